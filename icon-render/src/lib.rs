//! Chooses and renders stored icons (work in progress).
