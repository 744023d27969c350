//! The sessions' TCP MD5 keys (AWS always signs its BGP sessions). A
//! VIF's `md5_key` says where its key is (`env:NAME`, `file:PATH`,
//! relative paths from the topology file's directory); `sim up` reads it
//! there, or, when the file names none or it is not there, makes a random
//! key for the lab. Either way the key goes into one file per session
//! (`password "KEY";`, mode 600) that both ends' BIRD include.

use std::fs;
use std::io::{self, Read as _};
use std::path::Path;

use crate::render::bird::Md5Spec;

use topology::resolve::aws_limits;

/// A session's key and where it came from (for `sim up`'s notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    /// The key.
    pub key: String,
    /// `dx-vif: MD5 key from env:DX_BGP_MD5`, or why it is random.
    pub note: String,
}

/// Whether a key can be written into a BIRD string and used by the kernel:
/// `check`'s rule ([`aws_limits::md5_key_problem`]).
pub fn check_key(key: &str) -> Result<(), String> {
    match aws_limits::md5_key_problem(key) {
        Some(why) => Err(format!("the key {why}: {}", aws_limits::md5_key_rule())),
        None => Ok(()),
    }
}

/// The key of one session: from its `md5_key` when that holds one
/// (`base`: the topology file's directory, for relative paths; `env`:
/// the environment), otherwise `random()`.
pub fn resolve(
    spec: &Md5Spec,
    base: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
    random: impl FnOnce() -> io::Result<String>,
) -> Result<ResolvedKey, String> {
    let session = &spec.session;
    let found = match spec.location.as_deref() {
        Some(loc) => match aws_limits::Md5KeyAt::parse(loc, base) {
            Some(aws_limits::Md5KeyAt::Var(var)) => {
                env(var).filter(|k| !k.is_empty()).map(|k| (k, loc))
            }
            Some(aws_limits::Md5KeyAt::File(path)) => {
                match topology::secret_file::read_text(&path) {
                    Ok(text) => Some((text, loc)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                    Err(e) => return Err(format!("{session}: md5_key {loc}: {e}")),
                }
            }
            None => {
                return Err(format!(
                    "{session}: md5_key `{loc}` is neither env:NAME nor file:PATH"
                ))
            }
        },
        None => None,
    };
    match found {
        Some((key, loc)) => {
            check_key(&key).map_err(|e| format!("{session}: md5_key {loc}: {e}"))?;
            Ok(ResolvedKey {
                key,
                note: format!("{session}: BGP MD5 key from {loc}"),
            })
        }
        None => {
            let key = random().map_err(|e| format!("{session}: a random MD5 key: {e}"))?;
            let why = match spec.location.as_deref() {
                Some(loc) => format!("{loc} holds no key here"),
                None => "the file names none".into(),
            };
            Ok(ResolvedKey {
                key,
                note: format!("{session}: BGP MD5 key random for this lab ({why})"),
            })
        }
    }
}

/// 32 hexadecimal characters from the kernel's random source.
pub fn random_key() -> io::Result<String> {
    let mut b = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Writes the file BIRD includes (`password "KEY";`), a new file of mode
/// 600 from its creation ([`crate::apply::state::write_new`]).
pub fn write_key_file(path: &Path, key: &str) -> io::Result<()> {
    check_key(key).map_err(io::Error::other)?;
    let line = format!("    password \"{key}\";\n");
    crate::apply::state::write_new(path, line.as_bytes(), 0o600).map(drop)
}

/// The key a key file [`write_key_file`] wrote holds.
pub fn key_of_file(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix("password \"")?;
    Some(rest.strip_suffix("\";")?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec(location: Option<&str>) -> Md5Spec {
        Md5Spec {
            session: "dx-vif".into(),
            location: location.map(String::from),
            key_file: PathBuf::from("/nonexistent/md5-dx-vif.conf"),
        }
    }

    fn never() -> io::Result<String> {
        Err(io::Error::other("not asked for"))
    }

    #[test]
    fn a_key_file_gives_its_key_back() {
        let dir = std::env::temp_dir().join(format!("vifgate-md5-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("k.conf");
        write_key_file(&path, "s3cret").expect("write");
        let text = fs::read_to_string(&path).expect("read");
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(key_of_file(&text).as_deref(), Some("s3cret"));
    }

    #[test]
    fn a_key_in_the_environment_is_used() {
        let r = resolve(
            &spec(Some("env:DX_BGP_MD5")),
            None,
            |v| (v == "DX_BGP_MD5").then(|| "s3cret".to_string()),
            never,
        )
        .expect("resolved");
        assert_eq!(r.key, "s3cret");
        assert_eq!(r.note, "dx-vif: BGP MD5 key from env:DX_BGP_MD5");
    }

    #[test]
    fn no_key_where_the_file_says_gives_a_random_one_and_says_so() {
        let r = resolve(
            &spec(Some("env:DX_BGP_MD5")),
            None,
            |_| None,
            || Ok("abcd".into()),
        )
        .expect("resolved");
        assert_eq!(r.key, "abcd");
        assert!(
            r.note.contains("random") && r.note.contains("env:DX_BGP_MD5"),
            "{}",
            r.note
        );
        let r = resolve(&spec(None), None, |_| None, || Ok("ef01".into())).expect("resolved");
        assert_eq!(r.key, "ef01");
    }

    #[test]
    fn a_key_file_relative_to_the_topology_is_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("vifgate-md5-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        fs::write(dir.join("bgp.key"), "k3y-s3cret\n").expect("key");
        let r = resolve(&spec(Some("file:bgp.key")), Some(&dir), |_| None, never).expect("read");
        assert_eq!(r.key, "k3y-s3cret");
        fs::write(dir.join("short.key"), "k3y\n").expect("key");
        let e =
            resolve(&spec(Some("file:short.key")), Some(&dir), |_| None, never).expect_err("short");
        assert!(e.contains("6 to 80 characters"), "{e}");
        fs::write(dir.join("bad.key"), "with \"quote\"\n").expect("key");
        let e =
            resolve(&spec(Some("file:bad.key")), Some(&dir), |_| None, never).expect_err("refused");
        assert!(e.contains("printable ASCII"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn random_keys_are_hex_and_differ() {
        let (a, b) = (random_key().expect("random"), random_key().expect("random"));
        assert_eq!(a.len(), 32);
        assert!(check_key(&a).is_ok());
        assert_ne!(a, b);
        assert!(check_key(&"x".repeat(81)).is_err());
    }

    #[test]
    fn the_key_file_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let path = std::env::temp_dir().join(format!("vifgate-md5-file-{}", std::process::id()));
        write_key_file(&path, "abcdef").expect("written");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            "    password \"abcdef\";\n"
        );
        let _ = fs::remove_file(&path);
    }
}
