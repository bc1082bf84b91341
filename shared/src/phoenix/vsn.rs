//! Serializer negotiation: the `vsn` query parameter of the socket URL.

use super::error::UnsupportedVsn;

/// Serializer version chosen by the `vsn` query parameter.
///
/// The official client always sends `vsn=2.0.0`; older clients send nothing, which
/// Phoenix reads as `1.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vsn {
    /// JSON objects `{"topic","event","payload","ref"}`; no binary frames.
    V1,
    /// JSON arrays `[join_ref, ref, topic, event, payload]` plus binary frames.
    V2,
}

impl Vsn {
    /// `None` or any `1.x.y` → V1; any `2.0.x` (Phoenix's `~> 2.0.0`) → V2; anything else
    /// → [`UnsupportedVsn`], which the upgrade answers with HTTP 403.
    ///
    /// Only plain `MAJOR.MINOR.PATCH` with ASCII digits is accepted: pre-release and
    /// build suffixes, missing parts and whitespace are refused rather than guessed at.
    pub fn from_query(vsn: Option<&str>) -> Result<Vsn, UnsupportedVsn> {
        let Some(raw) = vsn else {
            return Ok(Vsn::V1);
        };
        match parse_semver(raw) {
            Some((1, _, _)) => Ok(Vsn::V1),
            Some((2, 0, _)) => Ok(Vsn::V2),
            _ => Err(UnsupportedVsn::new(raw)),
        }
    }

    /// The canonical version string, as the official client sends it for V2.
    pub fn as_str(self) -> &'static str {
        match self {
            Vsn::V1 => "1.0.0",
            Vsn::V2 => "2.0.0",
        }
    }
}

/// `"2.0.1"` → `(2, 0, 1)`; `None` for anything that is not three dot-separated runs of
/// ASCII digits fitting in a `u64`.
fn parse_semver(raw: &str) -> Option<(u64, u64, u64)> {
    let mut parts = raw.split('.').map(|part| {
        // `u64::from_str` alone would also accept a leading `+`.
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse::<u64>().ok()
        } else {
            None
        }
    });
    let major = parts.next()??;
    let minor = parts.next()??;
    let patch = parts.next()??;
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_vsn_means_v1() {
        assert_eq!(Vsn::from_query(None), Ok(Vsn::V1), "no vsn must select V1");
    }

    #[test]
    fn any_1_x_y_is_v1() {
        for raw in ["1.0.0", "1.0.1", "1.2.3", "1.10.0"] {
            assert_eq!(
                Vsn::from_query(Some(raw)),
                Ok(Vsn::V1),
                "vsn {raw:?} must select V1"
            );
        }
    }

    #[test]
    fn any_2_0_x_is_v2() {
        for raw in ["2.0.0", "2.0.1", "2.0.99"] {
            assert_eq!(
                Vsn::from_query(Some(raw)),
                Ok(Vsn::V2),
                "vsn {raw:?} must select V2"
            );
        }
    }

    #[test]
    fn other_versions_are_refused() {
        let refused = [
            "",
            "2",
            "2.0",
            "2.1.0",
            "3.0.0",
            "0.9.0",
            "2.0.0-rc.1",
            "2.0.0+build",
            " 2.0.0",
            "2.0.0 ",
            "2.0.0.0",
            "+2.0.0",
            "2..0",
            "v2.0.0",
            "abc",
            "99999999999999999999999.0.0",
            "２.0.0",
        ];
        for raw in refused {
            assert_eq!(
                Vsn::from_query(Some(raw)),
                Err(UnsupportedVsn::new(raw)),
                "vsn {raw:?} must be refused"
            );
        }
    }

    #[test]
    fn as_str_round_trips() {
        for vsn in [Vsn::V1, Vsn::V2] {
            assert_eq!(
                Vsn::from_query(Some(vsn.as_str())),
                Ok(vsn),
                "as_str of {vsn:?} must parse back to itself"
            );
        }
    }
}
