//! The `Session-*` headers (resty-session@4.0.5 `lib/resty/session.lua` lines 181-192, 365-434): which
//! session properties Kong's `response_headers` / `request_headers` name, and their values.
//!
//! When it runs: in the access phase, after a session was opened, for the headers the configuration
//! names (none by default).

use super::{Session, State};

/// A session property that can be sent as a header (Kong's `response_headers` / `request_headers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionHeader {
    /// `id` → `Session-Id`: base64url of the session id.
    Id,
    /// `audience` → `Session-Audience`.
    Audience,
    /// `subject` → `Session-Subject` (not sent when there is no subject).
    Subject,
    /// `timeout` → `Session-Timeout`: the smallest remaining of the enabled timeouts.
    Timeout,
    /// `idling-timeout` → `Session-Idling-Timeout`: seconds left before the idling timeout.
    IdlingTimeout,
    /// `rolling-timeout` → `Session-Rolling-Timeout`.
    RollingTimeout,
    /// `absolute-timeout` → `Session-Absolute-Timeout`.
    AbsoluteTimeout,
}

impl SessionHeader {
    /// Every header, in Kong's schema order.
    pub const ALL: [Self; 7] = [
        Self::Id,
        Self::Audience,
        Self::Subject,
        Self::Timeout,
        Self::IdlingTimeout,
        Self::RollingTimeout,
        Self::AbsoluteTimeout,
    ];

    /// The name used in Kong's configuration, e.g. `idling-timeout`.
    pub const fn wire_name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Audience => "audience",
            Self::Subject => "subject",
            Self::Timeout => "timeout",
            Self::IdlingTimeout => "idling-timeout",
            Self::RollingTimeout => "rolling-timeout",
            Self::AbsoluteTimeout => "absolute-timeout",
        }
    }

    /// The HTTP header name (resty `HEADERS`, lines 181-192).
    pub const fn header_name(self) -> &'static str {
        match self {
            Self::Id => "Session-Id",
            Self::Audience => "Session-Audience",
            Self::Subject => "Session-Subject",
            Self::Timeout => "Session-Timeout",
            Self::IdlingTimeout => "Session-Idling-Timeout",
            Self::RollingTimeout => "Session-Rolling-Timeout",
            Self::AbsoluteTimeout => "Session-Absolute-Timeout",
        }
    }

    /// Parses a configuration name (`id`, `audience`, …, `absolute-timeout`).
    pub fn from_wire(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|h| h.wire_name() == name)
    }
}

impl Session {
    /// The configured `response_headers` with their values (resty `set_headers`), in configuration
    /// order; headers without a value (no subject, a disabled timeout) are left out. Empty unless the
    /// session is open.
    pub fn response_headers(&self, now: u64) -> Vec<(&'static str, String)> {
        self.property_headers(&self.cfg.response_headers, now)
    }

    /// The configured `request_headers` with their values, for the upstream request.
    pub fn request_headers(&self, now: u64) -> Vec<(&'static str, String)> {
        self.property_headers(&self.cfg.request_headers, now)
    }

    fn property_headers(&self, headers: &[SessionHeader], now: u64) -> Vec<(&'static str, String)> {
        if self.state != State::Open {
            return Vec::new();
        }
        headers
            .iter()
            .filter_map(|&header| {
                self.property(header, now)
                    .map(|value| (header.header_name(), value))
            })
            .collect()
    }

    /// resty `get_property`. Timeouts are measured at the time the session was opened or saved (resty's
    /// `meta.timestamp`); `now` stands in only for a session that has neither been opened nor saved.
    fn property(&self, header: SessionHeader, now: u64) -> Option<String> {
        let (timestamp, creation, rolling, idling) = match &self.meta {
            Some(m) => (
                m.timestamp,
                m.creation_time,
                m.rolling_offset,
                m.idling_offset,
            ),
            None => (now, now, 0, 0),
        };
        let (timestamp, creation, rolling, idling) = (
            i128::from(timestamp),
            i128::from(creation),
            i128::from(rolling),
            i128::from(idling),
        );
        let cfg = &self.cfg;
        let idling_left = (cfg.idling_timeout > 0)
            .then(|| i128::from(cfg.idling_timeout) - (timestamp - creation - rolling - idling));
        let rolling_left = (cfg.rolling_timeout > 0)
            .then(|| i128::from(cfg.rolling_timeout) - (timestamp - creation - rolling));
        let absolute_left = (cfg.absolute_timeout > 0)
            .then(|| i128::from(cfg.absolute_timeout) - (timestamp - creation));
        match header {
            SessionHeader::Id => self.id(),
            SessionHeader::Audience => Some(self.audience().to_owned()),
            SessionHeader::Subject => self.subject().map(str::to_owned),
            SessionHeader::Timeout => [idling_left, rolling_left, absolute_left]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t.to_string()),
            SessionHeader::IdlingTimeout => idling_left.map(|t| t.to_string()),
            SessionHeader::RollingTimeout => rolling_left.map(|t| t.to_string()),
            SessionHeader::AbsoluteTimeout => absolute_left.map(|t| t.to_string()),
        }
    }
}
