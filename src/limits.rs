//! How much one call may ask for — the same limits for the browser engine and `debm`, so a
//! request that would take a tab down is refused with a message wherever it comes from. The
//! limits of a training configuration itself live in [`crate::config`].

/// Most images one call scores, classifies, converts or reads back from a split.
pub const MAX_IMAGES_PER_CALL: usize = 4096;
/// Most samples one sampling call draws in the browser (a worker answers within seconds).
pub const MAX_SAMPLES_PER_CALL: usize = 256;
/// Most Langevin steps of one sampling or editing call.
pub const MAX_STEPS_PER_CALL: usize = 2000;
/// Most replay-buffer images one call shows.
pub const MAX_BUFFER_IMAGES_SHOWN: usize = 1024;
/// Images per forward pass when scoring many (bounds the activations' memory).
pub const SCORING_CHUNK: usize = 256;

/// A count between 1 and `max`, or a message saying what is allowed.
pub fn check_count(what: &str, count: usize, max: usize) -> Result<usize, String> {
    if count == 0 || count > max {
        return Err(format!("{what} must be between 1 and {max} (got {count})"));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_outside_the_limit_are_refused_with_the_range() {
        assert_eq!(check_count("count", 3, MAX_SAMPLES_PER_CALL), Ok(3));
        assert_eq!(check_count("count", 0, 4).unwrap_err(), "count must be between 1 and 4 (got 0)");
        assert!(check_count("steps", MAX_STEPS_PER_CALL + 1, MAX_STEPS_PER_CALL).unwrap_err().contains("between 1 and 2000"));
    }
}
