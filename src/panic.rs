//! The panic guard every layer shares: a panic in a module aborts redis-server (and loses every
//! unsaved key), so command handlers, worker jobs and installs all run behind [`catch_panic`].
//! Redis-free; it lives below the commands and the pool, which both call it.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning a panic into `Err(message)`. Redis-free, so it is unit-tested directly.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::catch_panic;

    #[test]
    fn panics_become_errors_with_their_message() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(
            catch_panic(|| -> i32 { panic!("boom") }),
            Err("boom".to_string())
        );
        let index = std::hint::black_box(10);
        let e = catch_panic(|| [1, 2, 3][index]).unwrap_err();
        assert!(e.contains("index out of bounds"), "{e}");
        let e = catch_panic(|| -> u8 { panic!("{} items", 3) }).unwrap_err();
        assert_eq!(e, "3 items");
    }
}
