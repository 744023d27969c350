//! `vifgate genkey`, `pubkey` and `genpsk`, run as a user runs them, and
//! checked against the real `wg` (Debian's `wireguard-tools`).
//!
//! The tests that need `wg` print "skipped: wg not installed" and pass when
//! it is missing, except under `CI=true`, where they fail.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use gateway::keys::{PresharedKey, PrivateKey, PublicKey};

/// RFC 7748 section 6.1, Alice's private and public keys, in base64.
const RFC7748_ALICE_PRIVATE: &str = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
const RFC7748_ALICE_PUBLIC: &str = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";

/// Text that neither `vifgate pubkey` nor `wg pubkey` takes for a key, and
/// the words `vifgate`'s message uses for it.
fn malformed_keys() -> Vec<(String, &'static str)> {
    vec![
        ("hello".to_owned(), "not valid base64"),
        // no padding
        ("A".repeat(43), "not valid base64"),
        // non-zero trailing bits: a non-canonical encoding
        ("A".repeat(42) + "B=", "not valid base64"),
        // the URL-safe alphabet
        (RFC7748_ALICE_PUBLIC.replace('/', "_"), "not valid base64"),
        // 31 and 33 bytes
        ("A".repeat(42) + "==", "31 bytes"),
        ("A".repeat(44), "33 bytes"),
        // two keys
        (
            format!("{RFC7748_ALICE_PRIVATE}\n{RFC7748_ALICE_PUBLIC}"),
            "not valid base64",
        ),
    ]
}

/// Runs a program with `stdin` as its standard input.
fn run(program: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let mut input = child.stdin.take().expect("a stdin pipe");
    // A program may exit before reading all its input: ignore broken pipes.
    input.write_all(stdin.as_bytes()).ok();
    drop(input);
    child.wait_with_output().expect("the program finishes")
}

fn vifgate(args: &[&str], stdin: &str) -> Output {
    run(env!("CARGO_BIN_EXE_vifgate"), args, stdin)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one line a key command printed: 44 characters of base64, then a
/// newline, nothing on standard error.
fn key_line(o: &Output) -> String {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    assert_eq!(stderr(o), "");
    let out = stdout(o);
    let key = out
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no final newline: {out:?}"));
    assert_eq!(key.len(), 44, "{out:?}");
    assert!(!key.contains('\n'), "{out:?}");
    key.to_owned()
}

fn is_clamped(key: &[u8; 32]) -> bool {
    key[0] & 7 == 0 && key[31] & 0x80 == 0 && key[31] & 0x40 != 0
}

/// Whether `wg` can be run; when it cannot, fails under `CI=true` and
/// otherwise says the test is skipped.
fn have_wg() -> bool {
    match Command::new("wg").arg("--version").output() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let on_ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
            assert!(
                !on_ci,
                "wg not installed, and CI=true: install wireguard-tools"
            );
            println!("skipped: wg not installed");
            false
        }
        Err(e) => panic!("cannot run wg: {e}"),
    }
}

/// `wg genkey`'s output, without the newline.
fn wg_genkey() -> String {
    key_line(&run("wg", &["genkey"], ""))
}

/// `wg pubkey` of a key, without the newline.
fn wg_pubkey(private: &str) -> String {
    key_line(&run("wg", &["pubkey"], &format!("{private}\n")))
}

/// `vifgate pubkey` of a key, without the newline.
fn vifgate_pubkey(private: &str) -> String {
    key_line(&vifgate(&["pubkey"], &format!("{private}\n")))
}

/// A fresh directory under the system temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vifgate-keys-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn genkey_prints_a_new_clamped_key_and_a_newline() {
    let keys: Vec<String> = (0..8)
        .map(|_| key_line(&vifgate(&["genkey"], "")))
        .collect();
    for key in &keys {
        let parsed: PrivateKey = key.parse().expect("a WireGuard key");
        assert!(is_clamped(parsed.as_bytes()), "{key}");
        assert_eq!(parsed.to_base64(), *key);
    }
    for (i, key) in keys.iter().enumerate() {
        assert!(!keys[i + 1..].contains(key), "the same key twice: {key}");
    }
}

#[test]
fn keygen_is_another_name_for_genkey() {
    let key = key_line(&vifgate(&["keygen"], ""));
    let parsed: PrivateKey = key.parse().expect("a WireGuard key");
    assert!(is_clamped(parsed.as_bytes()), "{key}");
}

#[test]
fn genpsk_prints_a_new_key_and_a_newline() {
    let first = key_line(&vifgate(&["genpsk"], ""));
    let second = key_line(&vifgate(&["genpsk"], ""));
    assert_ne!(first, second);
    for key in [&first, &second] {
        let parsed: PresharedKey = key.parse().expect("a WireGuard key");
        assert_eq!(parsed.to_base64(), *key);
    }
}

#[test]
fn pubkey_gives_the_rfc7748_public_key() {
    assert_eq!(vifgate_pubkey(RFC7748_ALICE_PRIVATE), RFC7748_ALICE_PUBLIC);
}

#[test]
fn pubkey_of_a_genkey_key_is_its_public_key() {
    let private = key_line(&vifgate(&["genkey"], ""));
    let expected = private
        .parse::<PrivateKey>()
        .expect("a WireGuard key")
        .public_key();
    let public: PublicKey = vifgate_pubkey(&private).parse().expect("a WireGuard key");
    assert_eq!(public, expected);
}

#[test]
fn pubkey_ignores_surrounding_whitespace() {
    for input in [
        RFC7748_ALICE_PRIVATE.to_owned(),
        format!("{RFC7748_ALICE_PRIVATE}\r\n\n"),
        format!("  \t{RFC7748_ALICE_PRIVATE}  \n"),
    ] {
        let o = vifgate(&["pubkey"], &input);
        assert_eq!(key_line(&o), RFC7748_ALICE_PUBLIC, "{input:?}");
    }
}

#[test]
fn pubkey_refuses_what_is_not_a_key_with_exit_code_1() {
    let mut cases = malformed_keys();
    cases.extend([
        (String::new(), "empty"),
        ("\n \n".to_owned(), "empty"),
        ("A".repeat(5000), "too long"),
    ]);
    for (input, reason) in cases {
        let o = vifgate(&["pubkey"], &input);
        assert_eq!(o.status.code(), Some(1), "{input:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{input:?}");
        let err = stderr(&o);
        assert!(err.starts_with("error: "), "{input:?}: {err}");
        assert!(err.contains(reason), "{input:?}: {err}");
        assert!(!err.contains("panicked"), "{input:?}: {err}");
    }
}

#[test]
fn genkey_warns_when_writing_to_a_file_others_can_read() {
    let dir = temp_dir("warn");
    for (mode, warns) in [(0o644, true), (0o640, true), (0o600, false)] {
        let path = dir.join(format!("key-{mode:o}"));
        let file = std::fs::File::create(&path).expect("create");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        for command in ["genkey", "genpsk"] {
            let o = Command::new(env!("CARGO_BIN_EXE_vifgate"))
                .arg(command)
                .stdout(file.try_clone().expect("dup"))
                .output()
                .expect("vifgate runs");
            assert!(o.status.success(), "{}", stderr(&o));
            let err = stderr(&o);
            assert_eq!(
                err.contains("warning"),
                warns,
                "{command}, mode {mode:o}: {err:?}"
            );
            if warns {
                assert!(err.contains(&format!("{mode:04o}")), "{err}");
                assert!(err.contains("chmod 600"), "{err}");
            }
        }
        let written = std::fs::read_to_string(&path).expect("read");
        assert_eq!(written.lines().count(), 2, "{written:?}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn wg_agrees_with_vifgate_on_vifgate_keys() {
    if !have_wg() {
        return;
    }
    for _ in 0..4 {
        let private = key_line(&vifgate(&["genkey"], ""));
        assert_eq!(wg_pubkey(&private), vifgate_pubkey(&private), "{private}");
    }
}

#[test]
fn vifgate_agrees_with_wg_on_wg_keys() {
    if !have_wg() {
        return;
    }
    for _ in 0..4 {
        let private = wg_genkey();
        assert_eq!(vifgate_pubkey(&private), wg_pubkey(&private), "{private}");
    }
}

#[test]
fn vifgate_agrees_with_wg_on_unclamped_keys() {
    if !have_wg() {
        return;
    }
    let psk = key_line(&vifgate(&["genpsk"], ""));
    let all_ones = PrivateKey::from_bytes([0xff; 32]).to_base64();
    let zeros = PrivateKey::from_bytes([0; 32]).to_base64();
    for private in [psk, all_ones, zeros, RFC7748_ALICE_PRIVATE.to_owned()] {
        assert_eq!(vifgate_pubkey(&private), wg_pubkey(&private), "{private}");
    }
}

#[test]
fn vifgate_and_wg_refuse_the_same_malformed_keys() {
    if !have_wg() {
        return;
    }
    for (input, _) in malformed_keys() {
        let ours = vifgate(&["pubkey"], &format!("{input}\n"));
        let theirs = run("wg", &["pubkey"], &format!("{input}\n"));
        assert_eq!(ours.status.code(), Some(1), "{input:?}: {}", stderr(&ours));
        assert!(!theirs.status.success(), "wg accepted {input:?}");
    }
}
