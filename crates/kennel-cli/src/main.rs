//! `kennel`: see the crate docs of `kennel_cli`.

fn main() {
    kennel_cli::main()
}
