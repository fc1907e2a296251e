//! The test oracles, installed on first use under `<target>/test-oracles`, so the README's test
//! command needs nothing but Python 3 with venv and Node.js with npm on the machine (no
//! system-wide `pip install`, which Debian's Python refuses, and no global npm packages):
//! * `venv`: the pinned Python tools of `oracles/requirements.txt` ([`python`]);
//! * `node`: the pinned npm packages of `oracles/package.json` and its `package-lock.json`
//!   (the official MCP TypeScript SDK), installed with `npm ci` ([`node_command`]).
//!
//! Invariants: an oracle directory is used only once it holds exactly the pinned files (a stamp
//! written after a successful install, compared byte for byte); one process at a time builds
//! them (an exclusive `flock` on `test-oracles/lock`, so parallel test binaries and threads wait
//! rather than race); a failure to build one is a panic with the installer's output, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pinned requirements, compiled in so a changed pin rebuilds the virtualenv.
const REQUIREMENTS: &str = include_str!("../oracles/requirements.txt");

/// The pinned npm packages and their lock file (exact versions and integrity hashes).
const PACKAGE_JSON: &str = include_str!("../oracles/package.json");
const PACKAGE_LOCK: &str = include_str!("../oracles/package-lock.json");

/// The interpreter that builds the virtualenv: `GAVEL_TEST_PYTHON`, else `python3` on the PATH.
fn base_python() -> String {
    std::env::var("GAVEL_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// The Python interpreter of the oracles' virtualenv, created and filled on first use.
/// Panics, with what went wrong and what to install, if it cannot be built.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        ensure_venv(&oracles_dir()).unwrap_or_else(|e| panic!("the Python test oracles: {e}"))
    })
}

/// A `Command` running the oracles' interpreter.
pub fn python_command() -> Command {
    Command::new(python())
}

/// A `Command` running `node` in the directory of the pinned npm packages (installed on first
/// use), so a script given with `--input-type=module -e` imports them. Panics, with what went
/// wrong and what to install, if they cannot be installed.
pub fn node_command() -> Command {
    static PACKAGES: OnceLock<PathBuf> = OnceLock::new();
    let dir = PACKAGES.get_or_init(|| {
        ensure_node_packages(&oracles_dir()).unwrap_or_else(|e| panic!("the Node.js test oracles: {e}"))
    });
    let mut command = Command::new("node");
    command.current_dir(dir);
    command
}

/// `<target>/test-oracles`: the cargo target directory is the nearest ancestor of this test
/// executable that holds cargo's `CACHEDIR.TAG`; `GAVEL_ORACLES_DIR` overrides it.
fn oracles_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("GAVEL_ORACLES_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let target = exe
        .ancestors()
        .skip(1)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        // target/<profile>/deps/<test>: the profile directory's parent.
        .or_else(|| exe.ancestors().nth(3).map(Path::to_path_buf))
        .expect("a target directory above the test executable");
    target.join("test-oracles")
}

fn ensure_venv(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let lock = std::fs::File::create(dir.join("lock")).map_err(|e| format!("lock file: {e}"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("lock {}: {e}", dir.display()))?;

    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join("gavel-requirements.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS) && python.exists() {
        return Ok(python);
    }

    if venv.exists() {
        std::fs::remove_dir_all(&venv).map_err(|e| format!("remove stale {}: {e}", venv.display()))?;
    }
    let base = base_python();
    eprintln!("gavel-testkit: creating the test oracles' virtualenv in {}", venv.display());
    run(
        Command::new(&base).arg("-m").arg("venv").arg(&venv),
        &format!("`{base} -m venv` (install Python 3 with venv, e.g. Debian's python3-venv)"),
    )?;
    let requirements = dir.join("requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS).map_err(|e| format!("write requirements: {e}"))?;
    run(
        Command::new(&python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--quiet", "-r"])
            .arg(&requirements),
        "pip install of the pinned oracles (needs the PyPI registry)",
    )?;
    std::fs::write(&stamp, REQUIREMENTS).map_err(|e| format!("write stamp: {e}"))?;
    Ok(python)
}

fn ensure_node_packages(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let lock = std::fs::File::create(dir.join("lock")).map_err(|e| format!("lock file: {e}"))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("lock {}: {e}", dir.display()))?;

    let packages = dir.join("node");
    let stamp = packages.join("gavel-packages.txt");
    let pinned = format!("{PACKAGE_JSON}\n{PACKAGE_LOCK}");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == pinned) && packages.join("node_modules").is_dir() {
        return Ok(packages);
    }
    if packages.exists() {
        std::fs::remove_dir_all(&packages)
            .map_err(|e| format!("remove stale {}: {e}", packages.display()))?;
    }
    std::fs::create_dir_all(&packages).map_err(|e| format!("create {}: {e}", packages.display()))?;
    std::fs::write(packages.join("package.json"), PACKAGE_JSON)
        .map_err(|e| format!("write package.json: {e}"))?;
    std::fs::write(packages.join("package-lock.json"), PACKAGE_LOCK)
        .map_err(|e| format!("write package-lock.json: {e}"))?;
    eprintln!("gavel-testkit: installing the Node.js test oracles in {}", packages.display());
    run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&packages),
        "`npm ci` of the pinned oracles (install Node.js 18 or later with npm, e.g. Debian's nodejs \
         and npm; needs the npm registry)",
    )?;
    std::fs::write(&stamp, pinned).map_err(|e| format!("write stamp: {e}"))?;
    Ok(packages)
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{what}: cannot start: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}
