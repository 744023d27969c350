//! The load generator's HTTP/1.1, sans-IO: the bytes of a `GET`
//! ([`RequestHead`]) and a reader that takes a response's bytes as they
//! come ([`ResponseReader`]): its head parsed by `httparse`, its body
//! framed by `Content-Length`, chunked or by the connection's end (RFC
//! 9112 section 6.3) and thrown away. Nothing allocates per request: the
//! request is written into the caller's buffer, the headers are handed to
//! the caller as slices of the bytes read.

/// The most headers a response may have.
const MAX_HEADERS: usize = 64;

/// The bytes of one client's requests up to its `Cookie` header.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// `GET PATH HTTP/1.1`, then `Host`.
    start: Vec<u8>,
}

impl RequestHead {
    /// The head of a `GET` of `path` (checked by [`check_path`]) from
    /// `host`.
    pub fn new(path: &str, host: &str) -> RequestHead {
        RequestHead {
            start: format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n").into_bytes(),
        }
    }

    /// Writes the request, with `cookie` as its `Cookie` header if any,
    /// into `out` (cleared first).
    pub fn write(&self, cookie: Option<&str>, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.start);
        if let Some(c) = cookie {
            out.extend_from_slice(b"Cookie: ");
            out.extend_from_slice(c.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether `path` can be a request's target: `/`, then visible ASCII
/// (no space, no control character; no `#`, a fragment is not sent).
pub fn check_path(path: &str) -> bool {
    path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
}

/// Why a response cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The head is not HTTP/1.x.
    #[error("malformed response head")]
    Head,
    /// `Content-Length` is not a number, or two disagree.
    #[error("bad Content-Length")]
    ContentLength,
    /// A chunk's size line or its end is malformed.
    #[error("malformed chunk")]
    Chunk,
    /// The connection ended before the response did.
    #[error("connection closed mid-response")]
    Truncated,
}

/// A whole response, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Its status code.
    pub status: u16,
    /// Whether the connection can carry the next request.
    pub keep_alive: bool,
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// This many bytes are left.
    Length(u64),
    /// Chunked, at the given point.
    Chunked(Chunk),
    /// The connection's end is the body's.
    UntilClose,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// A size line is next.
    Size,
    /// This many data bytes are left, then CRLF.
    Data(u64),
    /// The CRLF after a chunk's data is next.
    DataEnd,
    /// Trailer lines, up to an empty one.
    Trailers,
}

/// What the reader waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body { body: Body, answer: Answer },
}

/// Reads one response from the bytes of a connection, as they come.
#[derive(Debug, Clone)]
pub struct ResponseReader {
    state: State,
}

impl Default for ResponseReader {
    fn default() -> ResponseReader {
        ResponseReader::new()
    }
}

/// What [`ResponseReader::read`] made of the bytes it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// How many bytes from the start it used: the caller drops them and
    /// keeps the rest (a partial head is left whole until it completes).
    pub consumed: usize,
    /// The response, once its last byte is read.
    pub done: Option<Answer>,
}

impl ResponseReader {
    /// A reader waiting for a response's first byte.
    pub fn new() -> ResponseReader {
        ResponseReader { state: State::Head }
    }

    /// Takes the bytes read so far (`buf`, from the first one not yet
    /// consumed). Calls `on_header` with each header's name and value of
    /// the final head (an interim 1xx head is skipped).
    pub fn read(
        &mut self,
        buf: &[u8],
        mut on_header: impl FnMut(&str, &[u8]),
    ) -> Result<Progress, ResponseError> {
        let mut at = 0;
        loop {
            match self.state {
                State::Head => {
                    let Some((len, answer, body)) = head(&buf[at..], &mut on_header)? else {
                        return Ok(Progress {
                            consumed: at,
                            done: None,
                        });
                    };
                    at += len;
                    match body {
                        // an interim answer: the real one follows
                        None if (100..200).contains(&answer.status) => {}
                        None => {
                            return Ok(Progress {
                                consumed: at,
                                done: Some(answer),
                            })
                        }
                        Some(body) => self.state = State::Body { body, answer },
                    }
                }
                State::Body { body, answer } => {
                    let (used, next) = advance(body, &buf[at..])?;
                    at += used;
                    match next {
                        None => {
                            self.state = State::Head;
                            return Ok(Progress {
                                consumed: at,
                                done: Some(answer),
                            });
                        }
                        Some(next) if next == body && used == 0 => {
                            return Ok(Progress {
                                consumed: at,
                                done: None,
                            })
                        }
                        Some(next) => self.state = State::Body { body: next, answer },
                    }
                }
            }
        }
    }

    /// The connection ended: the response, if its end is the
    /// connection's.
    pub fn eof(&mut self) -> Result<Answer, ResponseError> {
        match std::mem::replace(&mut self.state, State::Head) {
            State::Body {
                body: Body::UntilClose,
                answer,
            } => Ok(answer),
            _ => Err(ResponseError::Truncated),
        }
    }
}

/// The head at the start of `buf`: its length, its answer and how its
/// body is framed (`None`: no body); `None` while incomplete.
fn head(
    buf: &[u8],
    on_header: &mut impl FnMut(&str, &[u8]),
) -> Result<Option<(usize, Answer, Option<Body>)>, ResponseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ResponseError::Head),
    };
    let (Some(status), Some(minor)) = (r.code, r.version) else {
        return Err(ResponseError::Head);
    };
    let interim = (100..200).contains(&status) && status != 101;
    let mut keep_alive = minor >= 1;
    let mut length: Option<u64> = None;
    let mut transfer_encoding = None;
    for h in r.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or(ResponseError::ContentLength)?;
            if length.is_some_and(|l| l != n) {
                return Err(ResponseError::ContentLength);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = Some(h.value);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                }
            }
        }
        if !interim {
            on_header(h.name, h.value);
        }
    }
    let answer = Answer { status, keep_alive };
    if interim || status == 204 || status == 304 {
        return Ok(Some((len, answer, None)));
    }
    // RFC 9112 6.3: Transfer-Encoding overrides Content-Length; chunked
    // last frames the body, anything else runs to the connection's end
    let body = match (transfer_encoding, length) {
        (Some(te), _) => {
            let last = te.rsplit(|b| *b == b',').next().unwrap_or_default();
            if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Body::Chunked(Chunk::Size)
            } else {
                Body::UntilClose
            }
        }
        (None, Some(0)) => return Ok(Some((len, answer, None))),
        (None, Some(n)) => Body::Length(n),
        (None, None) => Body::UntilClose,
    };
    let answer = Answer {
        keep_alive: keep_alive && body != Body::UntilClose,
        ..answer
    };
    Ok(Some((len, answer, Some(body))))
}

/// Moves `body` over `buf`: the bytes used and where it is then (`None`:
/// at its end).
fn advance(body: Body, buf: &[u8]) -> Result<(usize, Option<Body>), ResponseError> {
    let avail = buf.len() as u64;
    Ok(match body {
        Body::Length(n) if avail >= n => (n as usize, None),
        Body::Length(n) => (buf.len(), Some(Body::Length(n - avail))),
        Body::UntilClose => (buf.len(), Some(Body::UntilClose)),
        Body::Chunked(chunk) => {
            let (used, next) = advance_chunk(chunk, buf)?;
            (used, next.map(Body::Chunked))
        }
    })
}

/// One step of a chunked body over `buf`.
fn advance_chunk(chunk: Chunk, buf: &[u8]) -> Result<(usize, Option<Chunk>), ResponseError> {
    Ok(match chunk {
        Chunk::Size => match httparse::parse_chunk_size(buf) {
            Ok(httparse::Status::Complete((used, 0))) => (used, Some(Chunk::Trailers)),
            Ok(httparse::Status::Complete((used, n))) => (used, Some(Chunk::Data(n))),
            Ok(httparse::Status::Partial) => (0, Some(Chunk::Size)),
            Err(_) => return Err(ResponseError::Chunk),
        },
        Chunk::Data(n) => {
            let avail = buf.len() as u64;
            if avail >= n {
                (n as usize, Some(Chunk::DataEnd))
            } else {
                (buf.len(), Some(Chunk::Data(n - avail)))
            }
        }
        Chunk::DataEnd => match buf {
            [b'\r', b'\n', ..] => (2, Some(Chunk::Size)),
            [] | [b'\r'] => (0, Some(Chunk::DataEnd)),
            _ => return Err(ResponseError::Chunk),
        },
        Chunk::Trailers => match buf.windows(2).position(|w| w == b"\r\n") {
            Some(0) => (2, None),
            Some(i) => (i + 2, Some(Chunk::Trailers)),
            None => (0, Some(Chunk::Trailers)),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer, the headers seen and the bytes left over.
    type Read = (Option<Answer>, Vec<(String, String)>, usize);

    /// Reads `bytes` given in pieces of `step` bytes, as a shell would
    /// (keeping what was not consumed).
    fn read_in_steps(bytes: &[u8], step: usize) -> Result<Read, ResponseError> {
        let mut r = ResponseReader::new();
        let mut headers = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for piece in bytes.chunks(step.max(1)) {
            pending.extend_from_slice(piece);
            let p = r.read(&pending, |n, v| {
                headers.push((n.to_string(), String::from_utf8_lossy(v).into_owned()))
            })?;
            pending.drain(..p.consumed);
            if p.done.is_some() {
                return Ok((p.done, headers, pending.len()));
            }
        }
        Ok((None, headers, pending.len()))
    }

    #[test]
    fn a_request_carries_its_path_host_and_cookie() {
        let head = RequestHead::new("/shop?id=1", "203.0.113.20:80");
        let mut out = b"left over".to_vec();
        head.write(None, &mut out);
        assert_eq!(
            out,
            b"GET /shop?id=1 HTTP/1.1\r\nHost: 203.0.113.20:80\r\n\r\n"
        );
        head.write(Some("AWSALB=a; S=1"), &mut out);
        assert_eq!(
            out,
            b"GET /shop?id=1 HTTP/1.1\r\nHost: 203.0.113.20:80\r\nCookie: AWSALB=a; S=1\r\n\r\n"
        );
    }

    #[test]
    fn a_path_is_visible_ascii_from_a_slash() {
        assert!(check_path("/"));
        assert!(check_path("/?set-cookie=SESSIONID&x=%20"));
        for bad in ["", "shop", "/a b", "/a\r\nX: y", "/a#frag", "/é"] {
            assert!(!check_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_content_length_body_is_read_whatever_the_pieces() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: S=web-a1-1; Path=/\r\nX-Vifgate-Target: web-a1\r\n\r\nhello";
        for step in [1, 2, 7, 40, bytes.len()] {
            let (answer, headers, left) = read_in_steps(bytes, step).expect("reads");
            assert_eq!(
                answer,
                Some(Answer {
                    status: 200,
                    keep_alive: true
                }),
                "step {step}"
            );
            assert_eq!(left, 0);
            assert_eq!(headers.len(), 3, "headers given once: {headers:?}");
            assert_eq!(
                headers[1],
                ("Set-Cookie".into(), "S=web-a1-1; Path=/".into())
            );
            assert_eq!(headers[2].1, "web-a1");
        }
    }

    #[test]
    fn a_chunked_body_with_extensions_and_trailers_is_read() {
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;x=y\r\nRust\r\n10\r\n0123456789abcdef\r\n0\r\nExpires: never\r\n\r\n";
        for step in [1, 3, 10, bytes.len()] {
            let (answer, _, left) = read_in_steps(bytes, step).expect("reads");
            assert_eq!(answer.map(|a| a.status), Some(200), "step {step}");
            assert_eq!(left, 0, "step {step}");
        }
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nRustX\r\n";
        assert_eq!(read_in_steps(bad, 100), Err(ResponseError::Chunk));
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(read_in_steps(bad, 100), Err(ResponseError::Chunk));
    }

    #[test]
    fn a_body_without_length_ends_with_the_connection() {
        let mut r = ResponseReader::new();
        let p = r
            .read(b"HTTP/1.0 200 OK\r\n\r\nsome body", |_, _| {})
            .expect("reads");
        assert_eq!(p.done, None);
        assert_eq!(p.consumed, 28, "the body is consumed as it comes");
        assert_eq!(
            r.eof(),
            Ok(Answer {
                status: 200,
                keep_alive: false
            })
        );
        let mut r = ResponseReader::new();
        let p = r
            .read(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nsome",
                |_, _| {},
            )
            .expect("reads");
        assert_eq!(p.done, None);
        assert_eq!(r.eof(), Err(ResponseError::Truncated));
    }

    #[test]
    fn connection_headers_and_versions_decide_keep_alive() {
        let cases: [(&[u8], bool); 4] = [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            (
                b"HTTP/1.1 503 Unavailable\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
                true,
            ),
        ];
        for (bytes, keep_alive) in cases {
            let (answer, _, _) = read_in_steps(bytes, bytes.len()).expect("reads");
            assert_eq!(
                answer.map(|a| a.keep_alive),
                Some(keep_alive),
                "{}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn an_interim_answer_is_skipped_and_204_has_no_body() {
        let bytes = b"HTTP/1.1 100 Continue\r\nX-Vifgate-Target: no\r\n\r\nHTTP/1.1 204 No Content\r\nX-Vifgate-Target: web-c1\r\n\r\n";
        let (answer, headers, left) = read_in_steps(bytes, bytes.len()).expect("reads");
        assert_eq!(answer.map(|a| a.status), Some(204));
        assert_eq!(headers, vec![("X-Vifgate-Target".into(), "web-c1".into())]);
        assert_eq!(left, 0);
    }

    #[test]
    fn bad_heads_and_lengths_are_errors_not_panics() {
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ] {
            assert!(read_in_steps(bad, bad.len()).is_err(), "{bad:?}");
        }
        // a response's end is where its length says: what follows is left
        let (answer, _, left) =
            read_in_steps(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 100)
                .expect("reads");
        assert_eq!(answer.map(|a| a.status), Some(200));
        assert_eq!(left, 5);
    }
}
