# Only run settings: no source, no sink.
run {
  concurrency = 4
}
