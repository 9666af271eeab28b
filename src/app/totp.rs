//! TOTP enrolment on the account page (docs/MFA.md): a new secret (20
//! bytes from `Rng`, sealed with the `SecretBox`, context `totp:<factor
//! id>`) in an unconfirmed factor, shown as an `otpauth://` URL, a QR code
//! (inline SVG rendered here) and the key in base32; confirmed by a first
//! code, which replaces the previous authenticator. Recovery codes: a set
//! of ten when the first factor is confirmed, and a new set on demand.
//! The rules of codes live in `protocol::mfa`.

use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::domain::User;
use crate::domain::mfa::{Factor, FactorKind};
use crate::ports::{Clock, Repositories, Rng, SecretBox, SecretError, StoreError};
use crate::protocol::mfa::{self, RecoveryCodes, TOTP_DIGITS, TOTP_SECRET_LEN, TOTP_STEP_SECS};

/// The name a TOTP factor is shown with.
pub const FACTOR_NAME: &str = "Authenticator app";

/// Why an enrolment step failed (none is the user's fault).
#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secret could not be sealed or opened.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The QR code could not be drawn.
    #[error("QR code: {0}")]
    Qr(String),
}

/// What the enrolment page shows: the key three ways.
pub struct Enrolment {
    /// The secret in base32 (RFC 4648, no padding), to type into an app.
    pub key: Zeroizing<String>,
    /// The key in groups of four, for reading.
    pub key_grouped: Zeroizing<String>,
    /// `otpauth://totp/<issuer>:<username>?secret=...&issuer=...`.
    pub url: Zeroizing<String>,
    /// The URL as a QR code: SVG markup drawn here (only `<svg>`, `<rect>`
    /// and `<path>` elements with numeric data), safe to embed as is.
    pub qr_svg: String,
}

impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolment").finish_non_exhaustive()
    }
}

/// What a first code did.
#[derive(Debug)]
pub enum Confirmation {
    /// The authenticator is confirmed (the previous one removed); new
    /// recovery codes when the user had none left, to show once.
    Confirmed(Option<RecoveryCodes>),
    /// The code does not match: nothing changed, the enrolment stays.
    WrongCode,
    /// No enrolment is under way (or it was confirmed in parallel).
    NoEnrolment,
}

fn totp_of(secret: &[u8], issuer: &str, username: &str) -> TOTP {
    #[allow(clippy::cast_sign_loss)] // TOTP_STEP_SECS is a positive constant.
    let step = TOTP_STEP_SECS as u64;
    TOTP::new_unchecked(
        Algorithm::SHA1,
        TOTP_DIGITS,
        1,
        step,
        secret.to_vec(),
        Some(issuer.to_owned()),
        username.to_owned(),
    )
}

/// The QR code of `url` as inline SVG markup: the XML declaration dropped,
/// an accessible name added.
pub fn qr_svg(url: &str) -> Result<String, TotpError> {
    let code = QrCode::new(url.as_bytes()).map_err(|e| TotpError::Qr(e.to_string()))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    let start = image
        .find("<svg")
        .ok_or_else(|| TotpError::Qr("no <svg>".into()))?;
    Ok(image[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code of the authenticator key\" ",
        1,
    ))
}

/// The page's view of `secret` for `user`.
pub fn enrolment_view(secret: &[u8], issuer: &str, user: &User) -> Result<Enrolment, TotpError> {
    let totp = totp_of(secret, issuer, user.username.as_str());
    let key = Zeroizing::new(totp.get_secret_base32());
    let grouped = Zeroizing::new(
        key.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
    );
    let url = Zeroizing::new(totp.get_url());
    let qr_svg = qr_svg(&url)?;
    Ok(Enrolment {
        key,
        key_grouped: grouped,
        url,
        qr_svg,
    })
}

fn is_pending_totp(f: &Factor) -> bool {
    f.kind == FactorKind::Totp && f.confirmed_at.is_none()
}

/// Starts an enrolment for `user`: a new secret in an unconfirmed factor
/// (a previous unconfirmed one is replaced; a confirmed one stays until
/// the new one is confirmed). `issuer` is `PORTCULLIS_TOTP_ISSUER`.
pub async fn start(
    store: &dyn Repositories,
    secrets: &dyn SecretBox,
    rng: &dyn Rng,
    clock: &dyn Clock,
    user: &User,
    issuer: &str,
) -> Result<Enrolment, TotpError> {
    let factors = store.factors();
    for old in factors.list_factors(&user.id).await? {
        if is_pending_totp(&old) {
            factors.delete_factor(&user.id, &old.id).await?;
        }
    }
    let mut secret = Zeroizing::new([0_u8; TOTP_SECRET_LEN]);
    rng.fill(secret.as_mut_slice());
    let id = rng.uuid_v4();
    let sealed = secrets
        .seal(&mfa::totp_context(&id), secret.as_slice())
        .await?;
    factors
        .insert_factor(&Factor {
            id,
            user_id: user.id.clone(),
            kind: FactorKind::Totp,
            name: FACTOR_NAME.to_owned(),
            secret_sealed: Some(sealed),
            credential_id: None,
            credential: None,
            last_step: None,
            confirmed_at: None,
            created_at: clock.now(),
            last_used_at: None,
        })
        .await?;
    enrolment_view(secret.as_slice(), issuer, user)
}

async fn pending_secret(
    store: &dyn Repositories,
    secrets: &dyn SecretBox,
    user: &User,
) -> Result<Option<(Factor, Zeroizing<Vec<u8>>)>, TotpError> {
    let Some(factor) = store
        .factors()
        .list_factors(&user.id)
        .await?
        .into_iter()
        .rfind(is_pending_totp)
    else {
        return Ok(None);
    };
    let Some(sealed) = factor.secret_sealed.as_deref() else {
        return Ok(None);
    };
    let secret = secrets.open(&mfa::totp_context(&factor.id), sealed).await?;
    Ok(Some((factor, secret)))
}

/// The enrolment under way, shown again (after a wrong first code).
pub async fn pending(
    store: &dyn Repositories,
    secrets: &dyn SecretBox,
    user: &User,
    issuer: &str,
) -> Result<Option<Enrolment>, TotpError> {
    match pending_secret(store, secrets, user).await? {
        Some((_, secret)) => enrolment_view(&secret, issuer, user).map(Some),
        None => Ok(None),
    }
}

/// Confirms the enrolment under way with its first `code` (one step of
/// drift). The step is recorded as used, the previous authenticator is
/// removed, and recovery codes are made if the user has none left.
pub async fn confirm(
    store: &dyn Repositories,
    secrets: &dyn SecretBox,
    rng: &dyn Rng,
    clock: &dyn Clock,
    user: &User,
    code: &str,
) -> Result<Confirmation, TotpError> {
    let Some((factor, secret)) = pending_secret(store, secrets, user).await? else {
        return Ok(Confirmation::NoEnrolment);
    };
    let now = clock.now();
    let Some(step) = mfa::matching_step(&secret, code, mfa::time_step(now)) else {
        return Ok(Confirmation::WrongCode);
    };
    let factors = store.factors();
    if !factors
        .confirm_factor(&user.id, &factor.id, step, now)
        .await?
    {
        return Ok(Confirmation::NoEnrolment);
    }
    for old in factors.list_factors(&user.id).await? {
        if old.kind == FactorKind::Totp && old.id != factor.id {
            factors.delete_factor(&user.id, &old.id).await?;
        }
    }
    Ok(Confirmation::Confirmed(
        super::mfa::ensure_recovery_codes(store, rng, &user.id, clock.now()).await?,
    ))
}

/// Removes the user's authenticator (and any enrolment under way): how
/// many confirmed TOTP factors went.
pub async fn remove(
    store: &dyn Repositories,
    user: &User,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64, TotpError> {
    let factors = store.factors();
    let mut removed = 0;
    for f in factors.list_factors(&user.id).await? {
        if f.kind == FactorKind::Totp
            && factors.delete_factor(&user.id, &f.id).await?
            && f.confirmed_at.is_some()
        {
            removed += 1;
        }
    }
    super::mfa::forget_codes_without_factor(store, &user.id, now).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_code_is_plain_svg_without_the_secret() {
        let svg =
            qr_svg("otpauth://totp/example:alice?secret=GEZDGNBVGY3TQOJQ&issuer=example").unwrap();
        assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml") && !svg.contains("GEZDGNBVGY3TQOJQ"));
        // Only the renderer's own elements and numbers.
        for tag in svg.split('<').skip(1) {
            let name: String = tag.chars().take_while(char::is_ascii_alphabetic).collect();
            assert!(
                ["svg", "rect", "path", ""].contains(&name.as_str()),
                "{name}"
            );
        }
    }
}
