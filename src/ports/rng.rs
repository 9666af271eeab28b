//! Randomness, injected so that tests can be deterministic.

use base64::Engine as _;

/// A cryptographically secure random source.
pub trait Rng: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);

    /// A 256-bit random value, base64url without padding (43 characters):
    /// the form of every code, token, secret and session id we issue.
    fn token(&self) -> String {
        let mut buf = [0_u8; 32];
        self.fill(&mut buf);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    }

    /// A random (version 4) UUID, as text: the `jti` of access tokens and
    /// session ids.
    fn uuid_v4(&self) -> String {
        let mut buf = [0_u8; 16];
        self.fill(&mut buf);
        uuid::Builder::from_random_bytes(buf)
            .into_uuid()
            .to_string()
    }

    /// A time-ordered (version 7) UUID for `now` (milliseconds since the
    /// epoch, from the `Clock`), as text: grant ids, which index well.
    fn uuid_v7(&self, now_millis: u64) -> String {
        let mut buf = [0_u8; 10];
        self.fill(&mut buf);
        uuid::Builder::from_unix_timestamp_millis(now_millis, &buf)
            .into_uuid()
            .to_string()
    }

    /// The stamp of an event that happens `now` (from the `Clock`): its
    /// id's random bits come from here, so that ids are injected like every
    /// other random value (a fixed `Rng` gives a predictable id).
    fn event_stamp(&self, now: chrono::DateTime<chrono::Utc>) -> crate::domain::event::EventStamp {
        let mut random = [0_u8; crate::domain::event::EventStamp::RANDOM_BYTES];
        self.fill(&mut random);
        crate::domain::event::EventStamp::new(now, random)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ConstantRng;

    #[test]
    fn uuids_come_from_the_port() {
        let v4 = uuid::Uuid::parse_str(&ConstantRng(0xab).uuid_v4()).unwrap();
        assert_eq!(v4.get_version_num(), 4);
        assert_eq!(
            ConstantRng(0xab).uuid_v4(),
            ConstantRng(0xab).uuid_v4(),
            "deterministic"
        );
        let v7 = uuid::Uuid::parse_str(&ConstantRng(1).uuid_v7(1_700_000_000_000)).unwrap();
        assert_eq!(v7.get_version_num(), 7);
        let (secs, _) = v7.get_timestamp().unwrap().to_unix();
        assert_eq!(secs, 1_700_000_000);
    }
}
