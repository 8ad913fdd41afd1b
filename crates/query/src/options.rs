//! prov9's own settings in DataFusion's configuration, set per session with `SET prov9.…`.

use datafusion::common::config::ConfigExtension;

datafusion::common::extensions_options! {
    /// prov9's settings in DataFusion's configuration (`SET prov9.max_recursion_depth = 500`).
    pub struct Prov9Options {
        /// Hops a recursive query may take before it is stopped with an error.
        pub max_recursion_depth: usize, default = 10_000
    }
}

impl ConfigExtension for Prov9Options {
    const PREFIX: &'static str = "prov9";
}
