//! The `kennel` command, built inside the test package so integration tests can spawn
//! it with `env!("CARGO_BIN_EXE_kennel-test-cli")`. It runs exactly the code of the real
//! `kennel` binary.

fn main() {
    kennel_cli::main()
}
