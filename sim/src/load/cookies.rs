//! One client's cookie jar: as much of RFC 6265 as a load balancer's
//! stickiness needs. `Set-Cookie` with `Expires` (an HTTP date) or
//! `Max-Age` (which wins, section 5.3 step 3), `Path` (default: the
//! request path's directory, section 5.1.4); host-only (the generator
//! talks to one host). Sans-IO: the time is an argument, in seconds since
//! the Unix epoch.

/// A cookie kept.
#[derive(Debug, Clone, PartialEq)]
struct Cookie {
    name: String,
    value: String,
    path: String,
    /// Seconds since the epoch after which it is gone; `None` for a
    /// session cookie (kept for the whole run).
    expires: Option<f64>,
}

/// A client's cookies, longer paths first (equal paths in the order
/// they were first stored): the order a `Cookie` header lists them in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CookieJar {
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// An empty jar.
    pub fn new() -> CookieJar {
        CookieJar::default()
    }

    /// Takes one `Set-Cookie` header value, received at `now` for a
    /// request to `request_path`. A header without `name=` is ignored (RFC
    /// 6265 5.2); an expiry in the past removes the cookie. A cookie
    /// stored again (a sliding expiry: on every answer) is updated in
    /// place, keeping its place (5.3 step 11.3: its creation time).
    pub fn store(&mut self, set_cookie: &str, request_path: &str, now: f64) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        let mut path = None;
        let mut max_age: Option<f64> = None;
        let mut expires: Option<f64> = None;
        for attr in parts {
            let (key, val) = attr.split_once('=').unwrap_or((attr, ""));
            let val = val.trim();
            let key = key.trim();
            if key.eq_ignore_ascii_case("max-age") {
                // 5.2.2: digits with an optional leading `-`; else ignored
                if let Ok(secs) = val.parse::<i64>() {
                    max_age = Some(if secs <= 0 {
                        f64::NEG_INFINITY
                    } else {
                        now + secs as f64
                    });
                }
            } else if key.eq_ignore_ascii_case("expires") {
                if let Ok(t) = httpdate::parse_http_date(val) {
                    expires = Some(match t.duration_since(std::time::UNIX_EPOCH) {
                        Ok(d) => d.as_secs_f64(),
                        Err(_) => f64::NEG_INFINITY,
                    });
                }
            } else if key.eq_ignore_ascii_case("path") && val.starts_with('/') {
                path = Some(val);
            }
        }
        let path = path.unwrap_or_else(|| default_path(request_path));
        let expires = max_age.or(expires);
        if expires.is_some_and(|e| e <= now) {
            self.cookies.retain(|c| !(c.name == name && c.path == path));
            return;
        }
        let value = value.trim();
        if let Some(c) = (self.cookies.iter_mut()).find(|c| c.name == name && c.path == path) {
            c.value.clear();
            c.value.push_str(value);
            c.expires = expires;
            return;
        }
        let at = (self.cookies.iter())
            .position(|c| c.path.len() < path.len())
            .unwrap_or(self.cookies.len());
        self.cookies.insert(
            at,
            Cookie {
                name: name.to_string(),
                value: value.to_string(),
                path: path.to_string(),
                expires,
            },
        );
    }

    /// The `Cookie` header for a request to `request_path` at `now`: the
    /// cookies of matching paths not expired, longer paths first (5.4);
    /// `None` when there are none. Expired cookies are dropped.
    pub fn header(&mut self, request_path: &str, now: f64) -> Option<String> {
        let mut header = String::new();
        self.write_header(request_path, now, &mut header);
        (!header.is_empty()).then_some(header)
    }

    /// [`CookieJar::header`] into `header` (cleared first; left empty when
    /// there are none), a buffer the caller reuses.
    pub fn write_header(&mut self, request_path: &str, now: f64, header: &mut String) {
        header.clear();
        self.cookies.retain(|c| c.expires.is_none_or(|e| e > now));
        for c in (self.cookies.iter()).filter(|c| path_matches(request_path, &c.path)) {
            if !header.is_empty() {
                header.push_str("; ");
            }
            header.push_str(&c.name);
            header.push('=');
            header.push_str(&c.value);
        }
    }

    /// How many cookies it holds (expired ones included until the next
    /// [`CookieJar::header`]).
    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }
}

/// RFC 6265 5.1.4: the directory of the request path.
fn default_path(request_path: &str) -> &str {
    match request_path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &request_path[..i],
    }
}

/// RFC 6265 5.1.4: path-match.
fn path_matches(request_path: &str, cookie_path: &str) -> bool {
    request_path == cookie_path
        || (request_path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || request_path[cookie_path.len()..].starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07T00:00:00Z.
    const NOW: f64 = 1_796_601_600.0;

    #[test]
    fn a_cookie_is_sent_back_until_it_expires() {
        let mut jar = CookieJar::new();
        jar.store("AWSALB=abc; Max-Age=60; Path=/", "/", NOW);
        assert_eq!(jar.header("/", NOW + 59.0).as_deref(), Some("AWSALB=abc"));
        assert_eq!(jar.header("/", NOW + 60.0), None, "gone at its Max-Age");
        assert!(jar.is_empty());
    }

    #[test]
    fn expires_is_an_http_date_and_max_age_wins_over_it() {
        let mut jar = CookieJar::new();
        // five days after NOW
        jar.store(
            "AWSALBAPP-0=web-a1; Expires=Sat, 12 Dec 2026 00:00:00 GMT; Path=/",
            "/",
            NOW,
        );
        assert!(jar.header("/", NOW + 5.0 * 86_400.0 - 1.0).is_some());
        assert!(jar.header("/", NOW + 5.0 * 86_400.0).is_none());
        jar.store(
            "S=1; Expires=Sat, 12 Dec 2026 00:00:00 GMT; Max-Age=10",
            "/",
            NOW,
        );
        assert!(jar.header("/", NOW + 11.0).is_none(), "Max-Age wins");
    }

    #[test]
    fn a_past_expiry_removes_the_cookie() {
        let mut jar = CookieJar::new();
        jar.store("SERVERID=web-a1", "/", NOW);
        assert_eq!(
            jar.header("/x", NOW + 1e6).as_deref(),
            Some("SERVERID=web-a1")
        );
        jar.store("SERVERID=; Max-Age=0", "/", NOW);
        assert_eq!(jar.header("/", NOW), None);
        jar.store("SERVERID=web-a1", "/", NOW);
        jar.store(
            "SERVERID=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "/",
            NOW,
        );
        assert_eq!(jar.header("/", NOW), None);
    }

    #[test]
    fn a_new_value_replaces_the_old_and_paths_are_kept_apart() {
        let mut jar = CookieJar::new();
        jar.store("A=1; Path=/", "/", NOW);
        jar.store("A=2; Path=/", "/", NOW);
        jar.store("B=3; Path=/shop", "/", NOW);
        jar.store("C=4", "/cart/add", NOW);
        assert_eq!(jar.header("/", NOW).as_deref(), Some("A=2"));
        assert_eq!(jar.header("/shop/x", NOW).as_deref(), Some("B=3; A=2"));
        assert_eq!(jar.header("/shopping", NOW).as_deref(), Some("A=2"));
        assert_eq!(jar.header("/cart", NOW).as_deref(), Some("C=4; A=2"));
        assert_eq!(jar.len(), 3);
    }

    #[test]
    fn a_cookie_stored_again_keeps_its_place_among_cookies_of_its_path() {
        let mut jar = CookieJar::new();
        jar.store("A=1; Path=/", "/", NOW);
        jar.store("B=2; Path=/", "/", NOW);
        jar.store("A=3; Max-Age=60; Path=/", "/", NOW);
        assert_eq!(jar.header("/", NOW).as_deref(), Some("A=3; B=2"));
        assert_eq!(jar.header("/", NOW + 61.0).as_deref(), Some("B=2"));
        let mut header = String::from("stale");
        jar.write_header("/", NOW, &mut header);
        assert_eq!(header, "B=2");
    }

    #[test]
    fn a_header_without_a_name_is_ignored() {
        let mut jar = CookieJar::new();
        for bad in ["", "novalue", "=x", "; Path=/"] {
            jar.store(bad, "/", NOW);
        }
        assert!(jar.is_empty());
    }
}
