//! Project automation for groupwal, run as `cargo xtask COMMAND`.
//!
//! Commands:
//!
//! - `ci`: everything CI checks, in order: format, clippy (warnings denied,
//!   all targets), the test suite, docs (warnings denied; with every
//!   feature, and each library crate with none), `cargo publish --dry-run`
//!   of every publishable crate, a fuzz smoke.
//! - `test`: the test suite (`cargo test --workspace --all-features`).
//! - `fuzz TARGET [--secs N]`: run one fuzz target (default 60 s).
//! - `fuzz-smoke [--secs N]`: every fuzz target for N seconds (default 20).
//! - `bench`: the criterion benchmarks in quick mode, then a quick
//!   comparison against the peer engines (a few minutes in all).
//! - `compare [--rocksdb]`: the full comparison of `docs/PERFORMANCE.md`
//!   (every engine, workload and writer count, medians of 3 runs; about
//!   15 minutes): tables to stdout and `docs/perf/*.txt`, JSON and SVG plots
//!   to `docs/perf/`. `--rocksdb` adds RocksDB (needs libclang; links the
//!   system's librocksdb when there is one, else builds its C++).
//! - `crash [--seeds N] [--minutes M] [--jobs J] [--first-seed S]`: the
//!   crash and fault soak (`wal-torture`, release build): crash-point
//!   exploration and fault injection over new seeds until N seeds or M
//!   minutes are done (4 seeds when neither is given); prints the counts and
//!   the replay line of any violation. `crash --replay CASE` runs one case
//!   again (of any campaign: `crash:`, `fault:`, `bitrot:`, `readfault:`).
//!   `crash --bitrot` soaks the bit-rot campaign instead, `crash
//!   --read-faults` the read-fault campaign (same options).
//!
//! Fuzzing needs the nightly toolchain and cargo-fuzz; `fuzz-smoke` installs
//! cargo-fuzz from crates.io when it is missing.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

type Result<T = ()> = std::result::Result<T, String>;

const USAGE: &str = "usage: cargo xtask <ci [--no-fuzz] | test | fuzz TARGET [--secs N] | fuzz-smoke [--secs N] | bench | compare [--rocksdb] | crash [--bitrot | --read-faults] [--seeds N] [--minutes M] [--jobs J] [--first-seed S] | crash --replay CASE>";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result {
    let root = project_root();
    env::set_current_dir(&root).map_err(|e| format!("cannot enter {}: {e}", root.display()))?;
    let (cmd, rest) = args.split_first().ok_or(USAGE)?;
    match cmd.as_str() {
        "ci" => ci(rest.iter().any(|a| a == "--no-fuzz")),
        "test" => test(),
        "fuzz" => {
            let target = rest.first().ok_or(USAGE)?;
            fuzz_run(target, secs_arg(rest)?.unwrap_or(60))
        }
        "fuzz-smoke" => fuzz_smoke(secs_arg(rest)?.unwrap_or(20)),
        "bench" => bench(),
        "compare" => compare(rest.iter().any(|a| a == "--rocksdb")),
        "crash" => crash(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

fn secs_arg(args: &[String]) -> Result<Option<u64>> {
    let Some(pos) = args.iter().position(|a| a == "--secs") else {
        return Ok(None);
    };
    let value = args.get(pos + 1).ok_or("--secs needs a value")?;
    value
        .parse()
        .map(Some)
        .map_err(|_| format!("--secs: not a number: {value:?}"))
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The groupwal engine variants the full comparison runs at 1 KiB (and
/// through the buffered and recovery workloads).
const VARIANTS: &str = "groupwal,groupwal-inline-prepare,groupwal-fallocate,groupwal-zstd,groupwal-aes,groupwal-aes-zstd,groupwal-all,groupwal-dsync,groupwal-direct";

fn bench() -> Result {
    step("criterion (quick mode)", || {
        cargo(&[
            "bench",
            "-p",
            "groupwal-benches",
            "--benches",
            "--",
            "--quick",
        ])
    })?;
    step(
        "quick comparison (1 KiB, W = 1, 16, 64; 64 MiB buffered)",
        || {
            // The bench profile: the build criterion just made serves.
            cargo(&[
                "run",
                "--profile",
                "bench",
                "-p",
                "groupwal-benches",
                "--bin",
                "compare",
                "--",
                "--writers",
                "1,16,64",
                "--sizes",
                "1024",
                "--seconds",
                "1",
                "--warmup",
                "0.3",
                "--buffered-mib",
                "64",
                "--disk-mib",
                "64",
            ])
        },
    )
}

/// Runs the `compare` binary with `args`, showing its tables and saving
/// them to `out`.
fn compare_to(features: &[&str], args: &[&str], out: &str) -> Result {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    if features.contains(&"rocksdb") {
        // The engine is compiled in only with this cfg too, so that
        // `--all-features` elsewhere never builds RocksDB.
        let mut flags = env::var("RUSTFLAGS").unwrap_or_default();
        flags.push_str(" --cfg groupwal_rocksdb");
        cmd.env("RUSTFLAGS", flags.trim());
    }
    if features.contains(&"rocksdb") && env::var_os("ROCKSDB_LIB_DIR").is_none() {
        // Link the system's RocksDB where there is one: building the
        // bundled C++ takes hours on a small machine.
        let system = Path::new("/usr/lib/x86_64-linux-gnu");
        if system.join("librocksdb.so").exists() {
            println!("   (linking the system RocksDB in {})", system.display());
            cmd.env("ROCKSDB_LIB_DIR", system);
        }
    }
    cmd.args(["run", "--release", "-p", "groupwal-benches"])
        .args(features)
        .args(["--bin", "compare", "--"])
        .args(args);
    let what = format!("compare {}", args.join(" "));
    let output = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    print!("{text}");
    std::fs::write(out, text.as_bytes()).map_err(|e| format!("cannot write {out}: {e}"))?;
    println!("   (tables saved to {out})");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({})", output.status))
    }
}

fn compare(rocksdb: bool) -> Result {
    std::fs::create_dir_all("docs/perf").map_err(|e| format!("cannot create docs/perf: {e}"))?;
    let features: &[&str] = if rocksdb {
        &["--features", "rocksdb"]
    } else {
        &[]
    };
    let mut engines = "groupwal,mutex,window,okaywal,raft-engine,raft-log,fjall".to_owned();
    if rocksdb {
        engines.push_str(",rocksdb");
    }
    step(
        "comparison: every engine, workload and writer count",
        || {
            compare_to(
                features,
                &[
                    "--engines",
                    &engines,
                    "--repeat",
                    "3",
                    "--seconds",
                    "1.5",
                    "--warmup",
                    "0.5",
                    "--long",
                    "--json",
                    "docs/perf/compare.json",
                    "--svg-dir",
                    "docs/perf",
                ],
                "docs/perf/compare.txt",
            )
        },
    )?;
    step(
        "comparison: groupwal's preallocation, sync modes and compression, 1 KiB",
        || {
            compare_to(
                features,
                &[
                    "--engines",
                    VARIANTS,
                    "--sizes",
                    "1024",
                    "--repeat",
                    "3",
                    "--seconds",
                    "1.5",
                    "--warmup",
                    "0.5",
                    "--buffered-mib",
                    "1024",
                    "--no-disk",
                    "--long",
                    "--json",
                    "docs/perf/variants.json",
                ],
                "docs/perf/variants.txt",
            )
        },
    )
}

/// The crash and fault soak: `wal-torture soak` (or `bitrot` with
/// `--bitrot`, `read-faults` with `--read-faults`, or `replay`) in a
/// release build, its arguments passed on.
fn crash(args: &[String]) -> Result {
    let mut cmd = vec!["run", "--release", "-p", "wal-torture", "--"];
    let has = |flag: &str| args.iter().any(|a| a == flag);
    match args.iter().position(|a| a == "--replay") {
        Some(pos) => {
            let case = args.get(pos + 1).ok_or("--replay needs a case")?;
            cmd.extend(["replay", case.as_str()]);
        }
        None => {
            cmd.push(match (has("--bitrot"), has("--read-faults")) {
                (false, false) => "soak",
                (true, false) => "bitrot",
                (false, true) => "read-faults",
                (true, true) => return Err("--bitrot or --read-faults, not both".into()),
            });
            for flag in ["--seeds", "--minutes", "--jobs", "--first-seed"] {
                if let Some(pos) = args.iter().position(|a| a == flag) {
                    let value = args.get(pos + 1).ok_or(format!("{flag} needs a value"))?;
                    cmd.extend([flag, value.as_str()]);
                }
            }
        }
    }
    cargo(&cmd)
}

fn ci(no_fuzz: bool) -> Result {
    let started = Instant::now();
    step("format", || {
        cargo(&["fmt", "--all", "--check"])?;
        // fuzz/ is outside the workspace, so `--all` does not reach it.
        cargo(&["fmt", "--manifest-path", "fuzz/Cargo.toml", "--check"])
    })?;
    step("clippy", || {
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    step("tests", test)?;
    step("docs", || {
        cargo_env(
            &["doc", "--workspace", "--no-deps", "--all-features"],
            &[("RUSTDOCFLAGS", "-D warnings")],
        )
    })?;
    step("docs without features", docs_without_features)?;
    step(
        "no metrics crate without the feature",
        no_metrics_without_the_feature,
    )?;
    step("publish dry run", || {
        forget_packaged_sources()?;
        // Packages every publishable crate and builds each from its
        // package, as crates.io would get it; `--allow-dirty`: CI's
        // checkout may carry build outputs git does not ignore.
        // A target directory of its own, emptied first: cargo keys a
        // registry package's build by name and version, so in a shared
        // one a second dry run links fresh sources against an earlier
        // run's build of a dependency of the same version.
        let verify = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("publish-verify");
        if verify.exists() {
            std::fs::remove_dir_all(&verify)
                .map_err(|e| format!("cannot remove {}: {e}", verify.display()))?;
        }
        let verify = verify.display().to_string();
        cargo_env(
            &["publish", "--workspace", "--dry-run", "--allow-dirty"],
            &[("CARGO_TARGET_DIR", verify.as_str())],
        )
    })?;
    if no_fuzz {
        println!("== fuzz smoke skipped (--no-fuzz)");
    } else {
        step("fuzz smoke", || fuzz_smoke(20))?;
    }
    println!("== ci passed in {:.0?}", started.elapsed());
    Ok(())
}

/// The library crates, each documented alone so that no other crate's
/// features reach it (`--workspace` would unify them: the CLI turns on
/// encryption): every intra-doc link must resolve without a feature.
const LIBRARY_CRATES: &[&str] = &[
    "wal-format",
    "wal-io",
    "wal-crypto",
    "wal-commit",
    "wal-reader",
    "groupwal",
];

fn docs_without_features() -> Result {
    let mut args = vec!["doc", "--no-deps"];
    for krate in LIBRARY_CRATES {
        args.extend(["-p", krate]);
    }
    cargo_env(&args, &[("RUSTDOCFLAGS", "-D warnings")])
}

/// Removes the sources an earlier `cargo publish --dry-run` unpacked from
/// its local registry (`$CARGO_HOME/registry/src/-HASH/CRATE-VERSION`):
/// cargo unpacks a package of the same name and version only once, so a
/// later dry run would build the workspace's crates against the earlier
/// run's sources. Only this workspace's own packages are removed.
fn forget_packaged_sources() -> Result {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    let Some(src) = home.map(|h| h.join("registry").join("src")) else {
        return Ok(());
    };
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(());
    };
    let ours = ["wal-", "groupwal-"];
    for registry in registries.flatten() {
        // Local registries' directories have no host name: "-HASH".
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        let Ok(packages) = std::fs::read_dir(registry.path()) else {
            continue;
        };
        for package in packages.flatten() {
            let name = package.file_name().to_string_lossy().into_owned();
            if ours.iter().any(|p| name.starts_with(p)) {
                std::fs::remove_dir_all(package.path())
                    .map_err(|e| format!("cannot remove {}: {e}", package.path().display()))?;
            }
        }
    }
    Ok(())
}

/// The `metrics` feature costs nothing when off: the `metrics` crate is
/// not in groupwal's build without it.
fn no_metrics_without_the_feature() -> Result {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "groupwal",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    match tree.lines().find(|l| l.starts_with("metrics ")) {
        Some(line) => Err(format!(
            "groupwal without features depends on {line}: the metrics feature must be optional"
        )),
        None => Ok(()),
    }
}

/// The README's test command; `--show-output` prints what passing tests
/// report (the crash campaign's and the process-kill test's counts) into
/// the CI log.
fn test() -> Result {
    cargo(&[
        "test",
        "--workspace",
        "--all-features",
        "--",
        "--show-output",
    ])
}

fn step(name: &str, f: impl FnOnce() -> Result) -> Result {
    println!("== {name}");
    let t = Instant::now();
    let r = f();
    println!(
        "== {name}: {} in {:.1?}",
        if r.is_ok() { "ok" } else { "FAILED" },
        t.elapsed()
    );
    r.map_err(|e| format!("{name}: {e}"))
}

fn cargo(args: &[&str]) -> Result {
    cargo_env(args, &[])
}

fn cargo_env(args: &[&str], envs: &[(&str, &str)]) -> Result {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    status(cmd, &format!("cargo {}", args.join(" ")))
}

fn status(mut cmd: Command, what: &str) -> Result {
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({st})"))
    }
}

/// A `cargo` command on the fuzzing toolchain: nightly when rustup has it,
/// else stable with `RUSTC_BOOTSTRAP=1` and no sanitizer.
struct FuzzToolchain {
    nightly: bool,
}

impl FuzzToolchain {
    fn detect() -> Self {
        let nightly = Command::new("rustup")
            .args(["toolchain", "list"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.starts_with("nightly"))
            })
            .unwrap_or(false);
        if !nightly {
            println!(
                "   (no nightly toolchain: fuzzing on stable with RUSTC_BOOTSTRAP=1, no sanitizer)"
            );
        }
        FuzzToolchain { nightly }
    }

    fn cargo(&self, args: &[&str]) -> Command {
        // Go through the rustup proxy, not $CARGO (which is stable's cargo).
        let mut cmd = Command::new("cargo");
        for var in ["RUSTUP_TOOLCHAIN", "RUSTC", "RUSTDOC", "CARGO"] {
            cmd.env_remove(var);
        }
        if self.nightly {
            cmd.arg("+nightly");
        } else {
            cmd.env("RUSTC_BOOTSTRAP", "1");
        }
        cmd.args(args);
        cmd
    }

    fn sanitizer_args(&self) -> &'static [&'static str] {
        if self.nightly {
            &[]
        } else {
            &["--sanitizer", "none"]
        }
    }

    fn ensure_cargo_fuzz(&self) -> Result {
        let have = self
            .cargo(&["fuzz", "--version"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if have {
            return Ok(());
        }
        println!("   installing cargo-fuzz from crates.io");
        let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["install", "cargo-fuzz", "--locked"]);
        status(cmd, "cargo install cargo-fuzz")
    }
}

fn fuzz_targets() -> Result<Vec<String>> {
    let dir = Path::new("fuzz/fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    targets.sort();
    Ok(targets)
}

fn fuzz_smoke(secs: u64) -> Result {
    let targets = fuzz_targets()?;
    let tc = FuzzToolchain::detect();
    tc.ensure_cargo_fuzz()?;
    let mut build = vec!["fuzz", "build"];
    build.extend(tc.sanitizer_args());
    status(tc.cargo(&build), "cargo fuzz build")?;
    for target in &targets {
        fuzz_with(&tc, target, secs)?;
    }
    println!(
        "   fuzz smoke: {} targets x {secs} s, no crash",
        targets.len()
    );
    Ok(())
}

fn fuzz_run(target: &str, secs: u64) -> Result {
    let targets = fuzz_targets()?;
    if !targets.iter().any(|t| t == target) {
        return Err(format!(
            "no fuzz target {target:?}; have: {}",
            targets.join(", ")
        ));
    }
    let tc = FuzzToolchain::detect();
    tc.ensure_cargo_fuzz()?;
    fuzz_with(&tc, target, secs)
}

fn fuzz_with(tc: &FuzzToolchain, target: &str, secs: u64) -> Result {
    // New inputs go to the scratch corpus (ignored by git); the committed
    // seeds are read as a second corpus directory.
    let corpus = format!("fuzz/corpus/{target}");
    let seeds = format!("fuzz/seeds/{target}");
    std::fs::create_dir_all(&corpus).map_err(|e| format!("cannot create {corpus}: {e}"))?;
    let max_time = format!("-max_total_time={secs}");
    let mut args = vec!["fuzz", "run"];
    args.extend(tc.sanitizer_args());
    args.extend([target, &corpus]);
    if Path::new(&seeds).is_dir() {
        args.push(&seeds);
    }
    args.extend([
        "--",
        &max_time,
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
    ]);
    println!("   fuzz {target} for {secs} s");
    status(tc.cargo(&args), &format!("fuzz target {target}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The workspace crates each crate may depend on: dependencies point
    /// down, from the facade to the format (docs/ARCHITECTURE.md).
    const LAYERS: &[(&str, &[&str])] = &[
        ("wal-format", &[]),
        ("wal-crypto", &["wal-format"]),
        ("wal-io", &["wal-format"]),
        ("wal-commit", &["wal-format", "wal-io", "wal-crypto"]),
        ("wal-reader", &["wal-format", "wal-io", "wal-crypto"]),
        (
            "groupwal",
            &[
                "wal-format",
                "wal-io",
                "wal-crypto",
                "wal-commit",
                "wal-reader",
            ],
        ),
        (
            "wal-cli",
            &[
                "groupwal",
                "wal-format",
                "wal-io",
                "wal-crypto",
                "wal-commit",
                "wal-reader",
            ],
        ),
        // The crash and fault campaign: the facade, and wal-io for its
        // simulated disk (feature `sim`).
        ("wal-torture", &["groupwal", "wal-io"]),
        // openraft's log storage on streams: the facade only.
        ("groupwal-openraft", &["groupwal"]),
    ];

    fn workspace_deps(manifest: &str) -> Vec<String> {
        let mut in_deps = false;
        let mut deps = Vec::new();
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                in_deps = line == "[dependencies]";
                continue;
            }
            if !in_deps {
                continue;
            }
            let name = line.split(['=', '.', ' ']).next().unwrap_or("");
            if LAYERS.iter().any(|(c, _)| *c == name) {
                deps.push(name.to_owned());
            }
        }
        deps
    }

    #[test]
    fn dependencies_point_down_the_layers() {
        let crates = project_root().join("crates");
        let mut seen = 0;
        for entry in std::fs::read_dir(&crates).unwrap() {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(
                manifest.contains(&format!("name = \"{name}\"")),
                "crates/{name}: folder and package names differ"
            );
            let allowed = LAYERS
                .iter()
                .find(|(c, _)| *c == name)
                .map(|(_, a)| *a)
                .unwrap_or_else(|| panic!("crates/{name} has no layer in xtask's LAYERS table"));
            for dep in workspace_deps(&manifest) {
                assert!(
                    allowed.contains(&dep.as_str()),
                    "{name} must not depend on {dep}"
                );
            }
            seen += 1;
        }
        assert!(seen >= 1, "no crates found under {}", crates.display());
    }

    #[test]
    fn layer_parser_reads_only_normal_dependencies() {
        let manifest = "[package]\nname = \"x\"\n[dependencies]\nwal-io.workspace = true\nthiserror = \"2\"\nwal-format = { path = \"../f\" }\n[dev-dependencies]\ngroupwal.workspace = true\n";
        assert_eq!(workspace_deps(manifest), ["wal-io", "wal-format"]);
    }

    #[test]
    fn every_fuzz_target_has_a_committed_seed_corpus() {
        let root = project_root();
        env::set_current_dir(&root).unwrap();
        let targets = fuzz_targets().unwrap();
        assert!(!targets.is_empty());
        for t in targets {
            let seeds = root.join("fuzz/seeds").join(&t);
            let n = std::fs::read_dir(&seeds).map(|d| d.count()).unwrap_or(0);
            assert!(n > 0, "fuzz target {t} has no seeds in {}", seeds.display());
        }
    }
}
