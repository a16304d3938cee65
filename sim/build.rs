//! Declares the `madsim` cfg (set by `--cfg madsim` in simulator builds) so that `#[cfg(madsim)]`
//! is not reported as unexpected; the package inherits the workspace lints and cannot add its own.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(madsim)");
}
