//! Entry points for the fuzz targets under `fuzz/` (and for replaying their saved inputs in unit
//! tests). Each feeds arbitrary bytes to one decoder; none may panic.
