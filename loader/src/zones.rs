//! Zone changes (filled in by the zone writer work).
