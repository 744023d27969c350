//! WireGuard keys: private, public and preshared, as 32 bytes in memory and
//! as the 44-character base64 text that `wg` and its configuration files use.
//!
//! Generation and the text format match `wg genkey`, `wg pubkey` and
//! `wg genpsk` byte for byte: standard base64 alphabet, `=` padding, exactly
//! 32 decoded bytes, non-canonical encodings refused. Private keys are
//! clamped on generation as `wg genkey` clamps them.
//!
//! Secrets are kept out of logs (their [`Debug`] output omits the key) and
//! the buffers they pass through are wiped on a best-effort basis; see
//! [`read_private_key_file`] for the file permission check.

use std::fmt;
use std::io::{self, Read as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use boringtun::x25519;
use rand_core::{OsRng, RngCore as _};

/// Length of every WireGuard key, in bytes.
pub const KEY_LEN: usize = 32;

/// Length of a key in base64, padding included.
pub const KEY_BASE64_LEN: usize = 44;

/// The most buffer reserved up front for a key file (which is 44 or 45
/// bytes), and the most read of one.
const KEY_FILE_READ_HINT: usize = 4096;

/// Why a key could not be parsed, read or generated.
///
/// Errors about a file carry the underlying error as their
/// [`source`](std::error::Error::source): print the whole chain (for
/// example with anyhow's `{:#}`) to show it.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not canonical standard base64 with padding.
    #[error("not valid base64: a WireGuard key is 44 characters of standard base64 ending in '='")]
    NotBase64,
    /// The text is base64 but does not decode to 32 bytes.
    #[error("decodes to {0} bytes; a WireGuard key is 32 bytes")]
    WrongLength(usize),
    /// The key file could not be opened or read.
    #[error("cannot read key file {}", .path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The key file exists but the gateway's user may not read it: after
    /// start-up (`[process] user`) pre-shared keys are re-read at every
    /// reload as that user.
    #[error(
        "key file {} is not readable by uid {uid}, the user the gateway runs as; \
         make that user its owner and keep it private: chown {uid} {} && chmod 600 {}",
        .path.display(),
        .path.display(),
        .path.display()
    )]
    NotReadable {
        /// The key file.
        path: PathBuf,
        /// The effective uid that tried.
        uid: u32,
    },
    /// The key file is no regular file (a directory, a named pipe, a
    /// device): no key is read from it, and no `chmod` is advised.
    #[error("key file {} is {kind}, not a file", .path.display())]
    NotAFile {
        /// The key file.
        path: PathBuf,
        /// What it is, in words ("a directory").
        kind: &'static str,
    },
    /// The key file is accessible by group or others.
    #[error(
        "key file {} is readable or writable by group or others (mode {mode:04o}); \
         make it private to its owner: chmod 600 {}",
        .path.display(),
        .path.display()
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits (`st_mode & 0o7777`).
        mode: u32,
    },
    /// The key file was read but does not hold a key.
    #[error("key file {} does not hold a WireGuard key", .path.display())]
    InvalidFile {
        /// The key file.
        path: PathBuf,
        /// Why its contents are not a key.
        #[source]
        source: Box<KeyError>,
    },
    /// The operating system's random number generator failed.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(rand_core::Error),
}

/// A WireGuard (Curve25519) private key.
///
/// Its [`Debug`] output shows the matching public key, never the private
/// one; [`to_base64`](Self::to_base64) is the only way to print it. The
/// bytes are wiped when the value is dropped.
#[derive(Clone)]
pub struct PrivateKey([u8; KEY_LEN]);

/// A WireGuard (Curve25519) public key. Displays as base64.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

/// A WireGuard preshared key: 32 random bytes mixed into the handshake.
///
/// Its [`Debug`] output omits the key; the bytes are wiped when the value is
/// dropped.
#[derive(Clone)]
pub struct PresharedKey([u8; KEY_LEN]);

impl PrivateKey {
    /// A new random private key, clamped as `wg genkey` clamps it.
    ///
    /// # Errors
    ///
    /// [`KeyError::Random`] if the operating system has no randomness to give.
    pub fn generate() -> Result<Self, KeyError> {
        let mut key = Self(random_bytes()?);
        clamp(&mut key.0);
        Ok(key)
    }

    /// A private key from its bytes, taken as they are (not clamped, like a
    /// key read by `wg`; Curve25519 clamps when it uses the key).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The matching public key, as `wg pubkey` computes it.
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from(x25519::PublicKey::from(&self.to_static_secret()))
    }

    /// The key as boringtun's (x25519-dalek's) static secret.
    pub fn to_static_secret(&self) -> x25519::StaticSecret {
        x25519::StaticSecret::from(self.0)
    }

    /// The key in WireGuard's base64 text form. Handle with care: this is
    /// the secret itself.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl PublicKey {
    /// A public key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key as boringtun's (x25519-dalek's) public key.
    pub fn to_x25519(&self) -> x25519::PublicKey {
        x25519::PublicKey::from(self.0)
    }

    /// The key in WireGuard's base64 text form (the same as [`Display`](fmt::Display)).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl PresharedKey {
    /// A new random preshared key, as `wg genpsk` makes one (not clamped).
    ///
    /// # Errors
    ///
    /// [`KeyError::Random`] if the operating system has no randomness to give.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self(random_bytes()?))
    }

    /// A preshared key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, as boringtun's `Tunn::new` takes them (copy them
    /// with `*key.as_bytes()`).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The key in WireGuard's base64 text form. Handle with care: this is
    /// the secret itself.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl From<x25519::PublicKey> for PublicKey {
    fn from(key: x25519::PublicKey) -> Self {
        Self(key.to_bytes())
    }
}

impl From<PublicKey> for x25519::PublicKey {
    fn from(key: PublicKey) -> Self {
        key.to_x25519()
    }
}

impl FromStr for PrivateKey {
    type Err = KeyError;

    /// Parses WireGuard base64 exactly (no surrounding whitespace).
    fn from_str(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(Self)
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    /// Parses WireGuard base64 exactly (no surrounding whitespace).
    fn from_str(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(Self)
    }
}

impl FromStr for PresharedKey {
    type Err = KeyError;

    /// Parses WireGuard base64 exactly (no surrounding whitespace).
    fn from_str(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(Self)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresharedKey(<redacted>)")
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl Drop for PresharedKey {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Reads a private key file as `wg` writes one: base64, surrounding
/// whitespace (such as the final newline) ignored.
///
/// # Errors
///
/// [`KeyError::InsecurePermissions`] if the file is readable or writable by
/// group or others (`mode & 0o077 != 0`); [`KeyError::Io`] if it cannot be
/// opened or read; [`KeyError::InvalidFile`] if it does not hold a key.
pub fn read_private_key_file(path: impl AsRef<Path>) -> Result<PrivateKey, KeyError> {
    read_key_file(path.as_ref()).map(PrivateKey)
}

/// Reads a preshared key file (as `wg genpsk` writes one), with the same
/// checks as [`read_private_key_file`].
///
/// # Errors
///
/// As [`read_private_key_file`].
pub fn read_preshared_key_file(path: impl AsRef<Path>) -> Result<PresharedKey, KeyError> {
    read_key_file(path.as_ref()).map(PresharedKey)
}

/// Parses key text with surrounding whitespace, as it comes from a file or
/// standard input.
///
/// # Errors
///
/// [`KeyError::NotBase64`] (also for text that is not UTF-8) or
/// [`KeyError::WrongLength`].
pub fn parse_key_text<K: FromStr<Err = KeyError>>(bytes: &[u8]) -> Result<K, KeyError> {
    trimmed_text(bytes)?.parse()
}

/// The text without surrounding whitespace; not UTF-8 is not base64.
fn trimmed_text(bytes: &[u8]) -> Result<&str, KeyError> {
    std::str::from_utf8(bytes)
        .map(str::trim)
        .map_err(|_| KeyError::NotBase64)
}

/// Opens the file, checks its permissions on the open descriptor (so the
/// file checked is the file read), and decodes it.
fn read_key_file(path: &Path) -> Result<[u8; KEY_LEN], KeyError> {
    let io_error = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    // without blocking: opening a named pipe no one writes to waits for
    // ever (the type is checked on the descriptor, below)
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_path_buf(),
            kind: crate::status_socket::file_kind(metadata.file_type()),
        });
    }
    let mode = metadata.permissions().mode() & 0o7777;
    // the rule of every secret file, the topology's BGP key's too
    if !topology::secret_file::is_private(mode) {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    // Room for the whole file up front, so that reading does not leave
    // unwiped copies behind in reallocated memory.
    let capacity = usize::try_from(metadata.len())
        .unwrap_or(KEY_FILE_READ_HINT)
        .min(KEY_FILE_READ_HINT)
        + 1;
    let mut contents = Vec::with_capacity(capacity);
    // no more than a key file's room: a path to a large file by mistake
    // is not read whole (what was read is no key)
    let result = match file
        .take(KEY_FILE_READ_HINT as u64)
        .read_to_end(&mut contents)
    {
        Ok(_) => trimmed_text(&contents)
            .and_then(decode_key)
            .map_err(|reason| KeyError::InvalidFile {
                path: path.to_path_buf(),
                source: Box::new(reason),
            }),
        Err(source) => Err(io_error(source)),
    };
    wipe(&mut contents);
    result
}

/// Why a key file did not open: permission denied names the user that
/// tried, the rest is [`KeyError::Io`].
fn open_error(path: &Path, source: io::Error) -> KeyError {
    if source.kind() == io::ErrorKind::PermissionDenied {
        KeyError::NotReadable {
            path: path.to_path_buf(),
            // SAFETY: geteuid cannot fail.
            uid: unsafe { libc::geteuid() },
        }
    } else {
        KeyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Decodes WireGuard base64 into 32 bytes.
fn decode_key(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let mut decoded = STANDARD.decode(text).map_err(|_| KeyError::NotBase64)?;
    let result = <[u8; KEY_LEN]>::try_from(decoded.as_slice())
        .map_err(|_| KeyError::WrongLength(decoded.len()));
    wipe(&mut decoded);
    result
}

/// 32 bytes from the operating system's random number generator.
fn random_bytes() -> Result<[u8; KEY_LEN], KeyError> {
    let mut bytes = [0; KEY_LEN];
    OsRng.try_fill_bytes(&mut bytes).map_err(KeyError::Random)?;
    Ok(bytes)
}

/// Clamps a Curve25519 private key exactly as `wg genkey` does.
fn clamp(key: &mut [u8; KEY_LEN]) {
    key[0] &= 248;
    key[31] &= 127;
    key[31] |= 64;
}

/// Overwrites secret bytes with zeros. Best effort: `black_box` keeps the
/// compiler from dropping the writes as dead stores.
fn wipe(bytes: &mut [u8]) {
    bytes.fill(0);
    std::hint::black_box(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7748 section 6.1: Alice's private key and X25519(a, 9).
    const RFC7748_ALICE_PRIVATE: &str =
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const RFC7748_ALICE_PUBLIC: &str =
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    /// RFC 7748 section 6.1: Bob's private key and X25519(b, 9).
    const RFC7748_BOB_PRIVATE: &str =
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
    const RFC7748_BOB_PUBLIC: &str =
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";

    fn hex32(hex: &str) -> [u8; KEY_LEN] {
        assert_eq!(hex.len(), 2 * KEY_LEN);
        let mut bytes = [0; KEY_LEN];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
        }
        bytes
    }

    fn is_clamped(key: &[u8; KEY_LEN]) -> bool {
        key[0] & 7 == 0 && key[31] & 128 == 0 && key[31] & 64 == 64
    }

    /// A fresh directory under the system temporary directory.
    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("vifgate-keys-{}-{}", std::process::id(), name));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    /// Writes a new file (a left-over read-only one is removed first).
    fn write_with_mode(path: &Path, contents: &str, mode: u32) {
        std::fs::remove_file(path).ok();
        std::fs::write(path, contents).expect("write");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// A key file that is a named pipe no one writes to, a directory or a
    /// device is refused for what it is: the pipe made `--check` and the
    /// start wait for ever, and the others were told `chmod 600` (of
    /// /dev/zero!). A large file is not read whole.
    #[test]
    fn a_key_file_that_is_no_file_is_refused_for_what_it_is() {
        let dir = temp_dir("kinds");
        let pipe = dir.join("fifo.key");
        std::fs::remove_file(&pipe).ok();
        let c = std::ffi::CString::new(pipe.to_str().expect("utf-8")).expect("no NUL");
        // SAFETY: a plain mkfifo of a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let (tx, rx) = std::sync::mpsc::channel();
        let asked = pipe.clone();
        std::thread::spawn(move || {
            let _ = tx.send(read_private_key_file(&asked).map(|_| ()));
        });
        match rx.recv_timeout(std::time::Duration::from_secs(5)) {
            Ok(Err(e @ KeyError::NotAFile { .. })) => assert_eq!(
                e.to_string(),
                format!("key file {} is a named pipe, not a file", pipe.display())
            ),
            other => panic!("a named pipe as key file: {other:?}"),
        }
        for (path, kind) in [
            (dir.clone(), "a directory"),
            ("/dev/zero".into(), "a device"),
        ] {
            match read_private_key_file(&path) {
                Err(KeyError::NotAFile { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        let big = dir.join("big.key");
        write_with_mode(&big, &"A".repeat(1 << 20), 0o600);
        assert!(matches!(
            read_private_key_file(&big),
            Err(KeyError::InvalidFile { .. })
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rfc7748_public_keys() {
        for (private, public) in [
            (RFC7748_ALICE_PRIVATE, RFC7748_ALICE_PUBLIC),
            (RFC7748_BOB_PRIVATE, RFC7748_BOB_PUBLIC),
        ] {
            let key = PrivateKey::from_bytes(hex32(private));
            assert_eq!(key.public_key().as_bytes(), &hex32(public));
        }
    }

    #[test]
    fn public_key_agrees_with_boringtun() {
        let key = PrivateKey::generate().expect("random");
        let theirs = x25519::PublicKey::from(&key.to_static_secret());
        assert_eq!(key.public_key().to_x25519(), theirs);
        assert_eq!(PublicKey::from(theirs), key.public_key());
        assert_eq!(x25519::PublicKey::from(key.public_key()), theirs);
    }

    #[test]
    fn generated_private_keys_are_clamped_and_distinct() {
        let keys: Vec<PrivateKey> = (0..64)
            .map(|_| PrivateKey::generate().expect("random"))
            .collect();
        assert!(keys.iter().all(|k| is_clamped(k.as_bytes())));
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a.as_bytes(), b.as_bytes());
            }
        }
    }

    #[test]
    fn clamp_matches_wg() {
        let mut all_ones = [0xff; KEY_LEN];
        clamp(&mut all_ones);
        assert_eq!(all_ones[0], 0xf8);
        assert_eq!(all_ones[31], 0x7f);
        assert!(all_ones[1..31].iter().all(|&b| b == 0xff));
        let mut zeros = [0; KEY_LEN];
        clamp(&mut zeros);
        assert_eq!(zeros[31], 0x40);
        assert!(zeros[..31].iter().all(|&b| b == 0));
    }

    #[test]
    fn unclamped_keys_are_kept_as_given_and_give_the_clamped_public_key() {
        let raw = [0xff; KEY_LEN];
        let mut clamped = raw;
        clamp(&mut clamped);
        let key = PrivateKey::from_bytes(raw);
        assert_eq!(key.as_bytes(), &raw);
        assert_eq!(
            key.public_key(),
            PrivateKey::from_bytes(clamped).public_key()
        );
    }

    #[test]
    fn base64_round_trips() {
        let private = PrivateKey::generate().expect("random");
        let text = private.to_base64();
        assert_eq!(text.len(), KEY_BASE64_LEN);
        assert!(text.ends_with('=') && !text.ends_with("=="));
        let back: PrivateKey = text.parse().expect("parses");
        assert_eq!(back.as_bytes(), private.as_bytes());

        let public = private.public_key();
        assert_eq!(public.to_string(), public.to_base64());
        assert_eq!(
            public.to_string().parse::<PublicKey>().expect("parses"),
            public
        );

        let psk = PresharedKey::generate().expect("random");
        let back: PresharedKey = psk.to_base64().parse().expect("parses");
        assert_eq!(back.as_bytes(), psk.as_bytes());
    }

    #[test]
    fn base64_matches_known_text() {
        // RFC 7748 Alice, as `echo <hex> | xxd -r -p | base64` prints it.
        let key = PrivateKey::from_bytes(hex32(RFC7748_ALICE_PRIVATE));
        assert_eq!(
            key.to_base64(),
            "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
        );
        assert_eq!(
            key.public_key().to_string(),
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
        );
        assert_eq!(
            PublicKey::from_bytes([0; KEY_LEN]).to_string(),
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        );
    }

    #[test]
    fn rejects_text_that_is_not_base64() {
        let good = PublicKey::from_bytes([0; KEY_LEN]).to_string();
        let cases = [
            // no padding
            good.trim_end_matches('=').to_owned(),
            // surrounding whitespace (only files and stdin are trimmed)
            format!(" {good}"),
            format!("{good}\n"),
            // URL-safe alphabet
            good.replacen('A', "-", 1),
            // non-zero trailing bits: a non-canonical encoding wg refuses
            good.replacen("A=", "B=", 1),
            "not a key at all".to_owned(),
            "é".repeat(22),
        ];
        for text in cases {
            assert!(
                matches!(text.parse::<PrivateKey>(), Err(KeyError::NotBase64)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn rejects_base64_of_the_wrong_length() {
        for len in [0, 1, 16, 31, 33, 64] {
            let text = STANDARD.encode(vec![7u8; len]);
            match text.parse::<PublicKey>() {
                Err(KeyError::WrongLength(n)) => assert_eq!(n, len),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let message = KeyError::WrongLength(31).to_string();
        assert!(message.contains("31 bytes"), "{message}");
    }

    #[test]
    fn debug_hides_secrets() {
        let private = PrivateKey::from_bytes(hex32(RFC7748_ALICE_PRIVATE));
        let shown = format!("{private:?} {private:#?}");
        assert!(!shown.contains(&private.to_base64()), "{shown}");
        assert!(!shown.contains("dwdtCnMYpX08"), "{shown}");
        assert!(!shown.contains("77076d0a"), "{shown}");
        assert!(!shown.contains("119"), "{shown}"); // 0x77 as a decimal byte
        assert!(shown.contains(&private.public_key().to_base64()), "{shown}");

        let psk = PresharedKey::from_bytes(hex32(RFC7748_BOB_PRIVATE));
        let shown = format!("{psk:?} {psk:#?}");
        assert!(!shown.contains(&psk.to_base64()), "{shown}");
        assert!(!shown.contains("93"), "{shown}"); // 0x5d as a decimal byte
        assert!(shown.contains("redacted"), "{shown}");

        let public = private.public_key();
        assert_eq!(format!("{public:?}"), format!("PublicKey({public})"));
    }

    #[test]
    fn parse_key_text_trims_whitespace() {
        let key = PrivateKey::generate().expect("random");
        let text = format!("  {}\r\n\n", key.to_base64());
        let back: PrivateKey = parse_key_text(text.as_bytes()).expect("parses");
        assert_eq!(back.as_bytes(), key.as_bytes());
        assert!(matches!(
            parse_key_text::<PrivateKey>(&[0xff, 0xfe]),
            Err(KeyError::NotBase64)
        ));
        assert!(matches!(
            parse_key_text::<PrivateKey>(b"\n"),
            Err(KeyError::WrongLength(0))
        ));
    }

    #[test]
    fn reads_a_private_key_file_with_mode_600() {
        let dir = temp_dir("private-600");
        let path = dir.join("private.key");
        let key = PrivateKey::generate().expect("random");
        write_with_mode(&path, &format!("{}\n", key.to_base64()), 0o600);
        let read = read_private_key_file(&path);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(read.expect("reads").as_bytes(), key.as_bytes());
    }

    #[test]
    fn reads_a_preshared_key_file_with_mode_400() {
        let dir = temp_dir("psk-400");
        let path = dir.join("psk.key");
        let psk = PresharedKey::generate().expect("random");
        write_with_mode(&path, &psk.to_base64(), 0o400);
        let read = read_preshared_key_file(&path);
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(read.expect("reads").as_bytes(), psk.as_bytes());
    }

    #[test]
    fn refuses_a_key_file_readable_by_others() {
        let dir = temp_dir("private-644");
        let path = dir.join("private.key");
        let key = PrivateKey::generate().expect("random");
        write_with_mode(&path, &format!("{}\n", key.to_base64()), 0o644);
        let read = read_private_key_file(&path);
        let psk_read = read_preshared_key_file(&path);
        std::fs::remove_dir_all(&dir).ok();

        let error = read.expect_err("refused");
        match &error {
            KeyError::InsecurePermissions { path: p, mode } => {
                assert_eq!(p, &path);
                assert_eq!(*mode, 0o644);
            }
            other => panic!("{other:?}"),
        }
        let message = error.to_string();
        let shown = path.display().to_string();
        assert!(message.contains(&shown), "{message}");
        assert!(message.contains("0644"), "{message}");
        assert!(message.contains(&format!("chmod 600 {shown}")), "{message}");
        assert!(!message.contains(&key.to_base64()), "{message}");
        assert!(matches!(
            psk_read,
            Err(KeyError::InsecurePermissions { mode: 0o644, .. })
        ));
    }

    #[test]
    fn refuses_a_preshared_key_file_readable_by_others_naming_the_fix() {
        let dir = temp_dir("psk-644");
        let path = dir.join("office-aws.psk");
        let psk = PresharedKey::generate().expect("random");
        write_with_mode(&path, &format!("{}\n", psk.to_base64()), 0o644);
        let read = read_preshared_key_file(&path);
        std::fs::remove_dir_all(&dir).ok();
        let message = read.expect_err("refused").to_string();
        let shown = path.display().to_string();
        assert!(message.contains(&format!("key file {shown} ")), "{message}");
        assert!(message.contains("(mode 0644)"), "{message}");
        assert!(message.contains(&format!("chmod 600 {shown}")), "{message}");
        assert!(!message.contains(&psk.to_base64()), "{message}");
    }

    #[test]
    fn refuses_any_group_or_other_access() {
        let dir = temp_dir("modes");
        let path = dir.join("private.key");
        let key = PrivateKey::generate().expect("random").to_base64();
        for mode in [0o640, 0o620, 0o610, 0o604, 0o602, 0o601, 0o660, 0o666] {
            write_with_mode(&path, &key, mode);
            let read = read_private_key_file(&path);
            assert!(
                matches!(read, Err(KeyError::InsecurePermissions { mode: m, .. }) if m == mode),
                "mode {mode:o}: {read:?}"
            );
        }
        for mode in [0o600, 0o400, 0o700] {
            write_with_mode(&path, &key, mode);
            assert!(read_private_key_file(&path).is_ok(), "mode {mode:o}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_key_file_without_a_key_names_the_file_and_the_reason() {
        let dir = temp_dir("garbage");
        let path = dir.join("private.key");
        write_with_mode(&path, "hello\n", 0o600);
        let read = read_private_key_file(&path);
        std::fs::remove_dir_all(&dir).ok();
        match read {
            Err(KeyError::InvalidFile { path: p, source }) => {
                assert_eq!(p, path);
                assert!(matches!(*source, KeyError::NotBase64));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn permission_denied_names_the_user_and_the_fix() {
        let path = Path::new("/etc/vifgate/office-aws.psk");
        let e = open_error(path, io::Error::from(io::ErrorKind::PermissionDenied));
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        assert!(
            matches!(e, KeyError::NotReadable { uid: u, .. } if u == uid),
            "{e:?}"
        );
        let message = e.to_string();
        assert!(
            message.contains(&format!(
                "chown {uid} /etc/vifgate/office-aws.psk && chmod 600 /etc/vifgate/office-aws.psk"
            )),
            "{message}"
        );
        assert!(matches!(
            open_error(path, io::Error::from(io::ErrorKind::NotFound)),
            KeyError::Io { .. }
        ));
    }

    #[test]
    fn a_missing_key_file_is_an_io_error_naming_the_file() {
        let path = temp_dir("missing").join("no-such.key");
        let read = read_private_key_file(&path);
        std::fs::remove_dir_all(path.parent().expect("parent")).ok();
        let error = read.expect_err("missing");
        assert!(
            matches!(&error, KeyError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{error:?}"
        );
        assert!(error.to_string().contains("no-such.key"), "{error}");
    }
}
