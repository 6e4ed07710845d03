//! The terminal hand-over of a Unix job; a Windows console has no foreground process
//! group, so there is never anything to hand over.

/// Never built: [`Foreground::claim`] always answers `None`.
pub(crate) struct Foreground(std::convert::Infallible);

impl Foreground {
    pub(crate) fn claim() -> std::io::Result<Option<Foreground>> {
        Ok(None)
    }

    pub(crate) fn hand_to(&self, _pgid: u32) -> std::io::Result<()> {
        match self.0 {}
    }

    pub(crate) fn take_back(&self) -> std::io::Result<()> {
        match self.0 {}
    }

    pub(crate) fn give_again(&self) -> std::io::Result<()> {
        match self.0 {}
    }
}
