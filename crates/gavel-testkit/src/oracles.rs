//! The Python test oracles' virtualenv: the pinned tools of `oracles/requirements.txt`, installed on
//! first use into `<target>/test-oracles/venv`, so the README's test command needs nothing but
//! Python 3 with venv on the machine (no system-wide `pip install`, which Debian's Python refuses).
//!
//! Invariants: the virtualenv is used only once it holds exactly the pinned file (a stamp written
//! after a successful install, compared byte for byte); one process at a time builds it (an
//! exclusive `flock` on `test-oracles/lock`, so parallel test binaries and threads wait rather than
//! race); a failure to build it is a panic with pip's output, never a skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The pinned requirements, compiled in so a changed pin rebuilds the virtualenv.
const REQUIREMENTS: &str = include_str!("../oracles/requirements.txt");

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
