"""pipestats: a faust-streaming worker that keeps the pipeline view's 1- and 5-minute windows."""
