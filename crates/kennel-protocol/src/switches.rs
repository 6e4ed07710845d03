//! `spawn`'s `containment` field: one switch per containment tier.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::ContainmentTier;

/// Declares [`ContainmentSwitches`] from one list of tiers, each as its field and its
/// [`ContainmentTier`]: the struct (one optional field per tier, omitted when unset),
/// [`ContainmentSwitches::FIELDS`], [`ContainmentSwitches::get`] and
/// [`ContainmentSwitches::set`]. A tier is named once, so they cannot disagree.
macro_rules! containment_switches {
    (
        $(#[$meta:meta])*
        pub struct ContainmentSwitches {
            $($(#[doc = $doc:literal])+ $field:ident as $tier:ident,)+
        }
    ) => {
        $(#[$meta])*
        pub struct ContainmentSwitches {
            $(
                $(#[doc = $doc])+
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<bool>,
            )+
        }

        impl ContainmentSwitches {
            /// The field names, i.e. the tier names a switch can name.
            pub const FIELDS: [&'static str; [$(stringify!($field)),+].len()] =
                [$(stringify!($field)),+];

            /// The switch for a tier: `None` use if available, `Some(false)` avoid,
            /// `Some(true)` require.
            pub fn get(&self, tier: ContainmentTier) -> Option<bool> {
                match tier {
                    $(ContainmentTier::$tier => self.$field,)+
                }
            }

            /// Sets the switch for a tier.
            pub fn set(&mut self, tier: ContainmentTier, switch: Option<bool>) {
                match tier {
                    $(ContainmentTier::$tier => self.$field = switch,)+
                }
            }
        }
    };
}

containment_switches! {
    /// Per-tier containment switches of `spawn`: absent uses the tier when the host
    /// offers it, `false` avoids it, `true` requires it (the spawn fails with
    /// `unsupported` when the host does not offer it). Unknown tier names are
    /// rejected with `unknown_field`; new tiers become new optional fields.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[non_exhaustive]
    pub struct ContainmentSwitches {
        /// A cgroup v2 with `cgroup.kill` (Linux).
        cgroup as Cgroup,
        /// The sidecar as child subreaper, sweeping escaped descendants (Linux).
        subreaper as Subreaper,
        /// A new process group/session per child (Unix).
        group as Group,
        /// A Job Object with kill-on-close (Windows).
        job_object as JobObject,
        /// A PID namespace per child whose init is the sidecar's keeper (Linux). Opt-in:
        /// absent or `false` is off, `true` requires it (and refuses `keep_leftovers`).
        pid_namespace as PidNamespace,
    }
}

impl ContainmentSwitches {
    /// Whether no switch is set.
    pub fn is_default(&self) -> bool {
        *self == ContainmentSwitches::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each tier's switch is the field named as the tier is on the wire, and only it.
    #[test]
    fn each_tier_has_the_switch_of_its_name() {
        assert_eq!(
            ContainmentSwitches::FIELDS.len(),
            ContainmentTier::ALL.len()
        );
        for tier in ContainmentTier::ALL {
            let mut switches = ContainmentSwitches::default();
            switches.set(tier, Some(false));
            assert_eq!(switches.get(tier), Some(false));
            let others = ContainmentTier::ALL.into_iter().filter(|t| *t != tier);
            assert!(
                others.clone().all(|t| switches.get(t).is_none()),
                "{tier:?}"
            );
            assert_eq!(
                serde_json::to_value(switches).unwrap(),
                serde_json::json!({ tier.as_str(): false })
            );
            assert!(ContainmentSwitches::FIELDS.contains(&tier.as_str()));
        }
    }
}
