//! Interop with Standard Webhooks code we did not write: PyPI
//! `standardwebhooks` and `svix`, npm `standardwebhooks`, driven through the
//! scripts in `interop/` (installed by `interop/setup.sh`).
//!
//! Without the installs each test prints a `SKIPPED:` line and passes, so a
//! plain `cargo test` works anywhere; `SKYHOOK_TEST_STRICT=1` (CI) turns the
//! skip into a failure.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use skyhook_receiver::{Signer, Webhook};

/// A random-looking 32-byte secret that is not one of the published vectors.
const SECRET: &str = "whsec_ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
const SEED: &str = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PUBLIC_KEY: &str = "whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";
/// Non-ASCII on purpose: both libraries decode the body as UTF-8 text before
/// signing, so this is where byte-vs-text mistakes would show.
const BODY: &str = r#"{"type":"quotation.created","customer":"Zoë Kraków","note":"日本語 🚀"}"#;
const PY_LIBS: [&str; 2] = ["standardwebhooks", "svix"];

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// `None` (after printing why) when the tool is not installed.
fn installed(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "SKIPPED: {what} not found at {} (run interop/setup.sh)",
        path.display()
    );
    if std::env::var("SKYHOOK_TEST_STRICT").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    println!("{msg}");
    None
}

fn python() -> Option<PathBuf> {
    installed(
        interop_dir().join(".venv/bin/python"),
        "PyPI standardwebhooks/svix",
    )
}

fn node_lib() -> Option<PathBuf> {
    installed(
        interop_dir().join("node_modules/standardwebhooks"),
        "npm standardwebhooks",
    )
}

/// A file in cargo's per-test-target scratch dir; unique per call because
/// tests run in parallel.
fn temp_file(contents: &[u8]) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("interop-{}-{n}", std::process::id()));
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(contents))
        .unwrap();
    path
}

fn run(mut cmd: Command) -> Output {
    let out = cmd
        .current_dir(interop_dir())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert_ne!(
        out.status.code(),
        Some(2),
        "usage error from {cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

struct Signed {
    id: String,
    timestamp: String,
    signature: String,
}

fn parse_sign_output(out: &Output) -> Signed {
    assert!(
        out.status.success(),
        "sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sign prints JSON");
    let field = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("no {k} in {v}"))
            .to_owned()
    };
    Signed {
        id: field("webhook-id"),
        timestamp: field("webhook-timestamp"),
        signature: field("webhook-signature"),
    }
}

fn py_sign(python: &Path, lib: &str, secret: &str, id: &str, ts: u64, body: &[u8]) -> Signed {
    let mut cmd = Command::new(python);
    cmd.arg("sign.py")
        .args(["--lib", lib, "--secret", secret, "--id", id, "--timestamp"]);
    cmd.arg(ts.to_string())
        .arg("--body-file")
        .arg(temp_file(body));
    parse_sign_output(&run(cmd))
}

fn node_sign(secret: &str, id: &str, ts: u64, body: &[u8]) -> Signed {
    let mut cmd = Command::new("node");
    cmd.arg("sign.mjs")
        .args(["--secret", secret, "--id", id, "--timestamp"]);
    cmd.arg(ts.to_string())
        .arg("--body-file")
        .arg(temp_file(body));
    parse_sign_output(&run(cmd))
}

fn headers_json(prefix: &str, id: &str, ts: u64, signature: &str) -> PathBuf {
    let headers = serde_json::json!({
        format!("{prefix}-id"): id,
        format!("{prefix}-timestamp"): ts.to_string(),
        format!("{prefix}-signature"): signature,
    });
    temp_file(headers.to_string().as_bytes())
}

/// Exit code of `verify.py` (lib = Some) or `verify.mjs` (python = None).
fn their_verify(python: Option<(&Path, &str)>, secret: &str, headers: PathBuf, body: &[u8]) -> i32 {
    let mut cmd = match python {
        Some((py, lib)) => {
            let mut c = Command::new(py);
            c.arg("verify.py").args(["--lib", lib]);
            c
        }
        None => {
            let mut c = Command::new("node");
            c.arg("verify.mjs");
            c
        }
    };
    cmd.args(["--secret", secret])
        .arg("--headers-json")
        .arg(headers);
    cmd.arg("--body-file").arg(temp_file(body));
    run(cmd).status.code().expect("verifier exited normally")
}

fn our_verify(secret: &str, s: &Signed, body: &[u8]) -> Result<(), skyhook_receiver::Error> {
    let now = at(s.timestamp.parse().unwrap());
    Webhook::new(secret)?.verify_parts(&s.id, &s.timestamp, &s.signature, body, now)
}

#[test]
fn python_signatures_verify_here() {
    let Some(py) = python() else { return };
    for lib in PY_LIBS {
        let s = py_sign(&py, lib, SECRET, "msg_py", 1_764_331_200, BODY.as_bytes());
        our_verify(SECRET, &s, BODY.as_bytes()).unwrap_or_else(|e| panic!("{lib}: {e}"));
        // And it is byte-identical to ours.
        assert_eq!(
            s.signature,
            Signer::new(SECRET)
                .unwrap()
                .sign("msg_py", 1_764_331_200, BODY.as_bytes())
        );
        assert!(our_verify(SECRET, &s, b"{}").is_err());
    }
}

#[test]
fn python_v1a_signatures_verify_here() {
    let Some(py) = python() else { return };
    let s = py_sign(
        &py,
        "standardwebhooks",
        SEED,
        "msg_py",
        1_764_331_200,
        BODY.as_bytes(),
    );
    assert!(s.signature.starts_with("v1a,"));
    our_verify(PUBLIC_KEY, &s, BODY.as_bytes()).unwrap();
    assert!(our_verify(PUBLIC_KEY, &s, b"{}").is_err());
}

#[test]
fn node_signatures_verify_here() {
    if node_lib().is_none() {
        return;
    }
    for secret in [SECRET, SEED] {
        let s = node_sign(secret, "msg_node", 1_764_331_200, BODY.as_bytes());
        our_verify(secret, &s, BODY.as_bytes()).unwrap_or_else(|e| panic!("{secret}: {e}"));
        assert_eq!(
            s.signature,
            Signer::new(secret)
                .unwrap()
                .sign("msg_node", 1_764_331_200, BODY.as_bytes())
        );
        assert!(our_verify(secret, &s, b"{}").is_err());
    }
}

#[test]
fn our_signatures_verify_in_python() {
    let Some(py) = python() else { return };
    let ts = now();
    let sig = Signer::new(SECRET)
        .unwrap()
        .sign("msg_rs", ts, BODY.as_bytes());
    for lib in PY_LIBS {
        let ok = their_verify(
            Some((&py, lib)),
            SECRET,
            headers_json("webhook", "msg_rs", ts, &sig),
            BODY.as_bytes(),
        );
        assert_eq!(ok, 0, "{lib} refused our signature");
        // Make sure the script can say no, or the line above proves nothing.
        let tampered = format!("{BODY} ");
        let bad = their_verify(
            Some((&py, lib)),
            SECRET,
            headers_json("webhook", "msg_rs", ts, &sig),
            tampered.as_bytes(),
        );
        assert_eq!(bad, 1, "{lib} accepted a tampered body");
    }
    // Svix SDKs read the svix-* header set, which Skyhook also sends.
    let svix = their_verify(
        Some((&py, "svix")),
        SECRET,
        headers_json("svix", "msg_rs", ts, &sig),
        BODY.as_bytes(),
    );
    assert_eq!(svix, 0);
}

#[test]
fn our_signatures_verify_in_node() {
    if node_lib().is_none() {
        return;
    }
    let ts = now();
    let sig = Signer::new(SECRET)
        .unwrap()
        .sign("msg_rs", ts, BODY.as_bytes());
    assert_eq!(
        their_verify(
            None,
            SECRET,
            headers_json("webhook", "msg_rs", ts, &sig),
            BODY.as_bytes()
        ),
        0
    );
    assert_eq!(
        their_verify(
            None,
            SECRET,
            headers_json("webhook", "msg_other", ts, &sig),
            BODY.as_bytes()
        ),
        1
    );
}

#[test]
fn our_rotation_header_verifies_with_either_secret_in_both_languages() {
    let (Some(py), Some(_)) = (python(), node_lib()) else {
        return;
    };
    let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let ts = now();
    let body = BODY.as_bytes();
    let header = format!(
        "{} {}",
        Signer::new(old).unwrap().sign("msg_rot", ts, body),
        Signer::new(SECRET).unwrap().sign("msg_rot", ts, body)
    );
    for secret in [old, SECRET] {
        for lib in PY_LIBS {
            assert_eq!(
                their_verify(
                    Some((&py, lib)),
                    secret,
                    headers_json("webhook", "msg_rot", ts, &header),
                    body
                ),
                0
            );
        }
        assert_eq!(
            their_verify(
                None,
                secret,
                headers_json("webhook", "msg_rot", ts, &header),
                body
            ),
            0
        );
    }
}

#[test]
fn our_v1a_signatures_verify_in_python_and_node() {
    let (Some(py), Some(_)) = (python(), node_lib()) else {
        return;
    };
    let ts = now();
    let sig = Signer::new(SEED)
        .unwrap()
        .sign("msg_rs", ts, BODY.as_bytes());
    let verify_both = |body: &[u8]| {
        let py_code = their_verify(
            Some((&py, "standardwebhooks")),
            PUBLIC_KEY,
            headers_json("webhook", "msg_rs", ts, &sig),
            body,
        );
        let node_code = their_verify(
            None,
            PUBLIC_KEY,
            headers_json("webhook", "msg_rs", ts, &sig),
            body,
        );
        (py_code, node_code)
    };
    assert_eq!(verify_both(BODY.as_bytes()), (0, 0));
    assert_eq!(verify_both(b"{}"), (1, 1));
}

#[test]
fn shared_vectors_verify_in_python_and_node() {
    // The same file the server's signer is tested against; checking it with
    // third-party verifiers closes the loop.
    let (Some(py), Some(_)) = (python(), node_lib()) else {
        return;
    };
    let vectors: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("vectors.json")).unwrap();
    for v in &vectors {
        let s = |k: &str| v[k].as_str().unwrap();
        let key = v
            .get("publicKey")
            .and_then(|k| k.as_str())
            .unwrap_or(s("secret"));
        let ts = v["timestamp"].as_u64().unwrap();
        let headers = || headers_json("webhook", s("msgId"), ts, s("signature"));
        let now = ts.to_string();
        let mut py_cmd = Command::new(&py);
        py_cmd
            .args(["verify.py", "--secret", key, "--now", &now])
            .arg("--headers-json")
            .arg(headers());
        py_cmd
            .arg("--body-file")
            .arg(temp_file(s("body").as_bytes()));
        assert!(run(py_cmd).status.success(), "python: {}", s("name"));
        let mut node_cmd = Command::new("node");
        node_cmd
            .args(["verify.mjs", "--secret", key, "--now", &now])
            .arg("--headers-json")
            .arg(headers());
        node_cmd
            .arg("--body-file")
            .arg(temp_file(s("body").as_bytes()));
        assert!(run(node_cmd).status.success(), "node: {}", s("name"));
    }
}
