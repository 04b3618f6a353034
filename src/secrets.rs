//! Secrets pyenvx generates: database passwords, Django's `SECRET_KEY`, export passwords. They
//! come from the operating system's generator (through `getrandom`), and only from it: a machine
//! that cannot give randomness gets a clear error, never a password that could be guessed.
//!
//! Below everything that makes secrets (`services`, `project`, `export`), importing nothing of
//! pyenvx but the error type.

use anyhow::Result;

use crate::user_error;

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| {
        user_error!(
            hint = "on Linux, check that the getrandom system call is allowed (a container's \
                    seccomp profile) and that /dev/urandom exists",
            "the operating system gave no random bytes ({e}), so no secret can be made"
        )
    })?;
    Ok(buf)
}

/// A password of `len` letters and digits: safe in URLs, YAML, shells and `.env` files without
/// quoting.
pub fn random_password(len: usize) -> Result<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len + 8)? {
            // 248 = 4 × 62: rejecting the rest keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(ALPHABET[(b % 62) as usize] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_letters_and_digits_and_differ() {
        let a = random_password(32).unwrap();
        let b = random_password(32).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
        assert_eq!(random_bytes(16).unwrap().len(), 16);
    }
}
