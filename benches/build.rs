//! Declares the `groupwal_rocksdb` cfg (set through RUSTFLAGS by
//! `cargo xtask compare --rocksdb`) so rustc's cfg check knows it.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(groupwal_rocksdb)");
}
