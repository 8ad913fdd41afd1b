//! The `prov9` binary: parse arguments, set up logging, run the command.

// Loading and query planning allocate many small strings and vectors from every thread; glibc's
// allocator spent about a third of a bulk load in malloc/free (perf), mimalloc far less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    prov9_cli::main()
}
