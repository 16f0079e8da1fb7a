"""What pipestats computes, without faust, Kafka or SQL."""
