"""The comparison matrix: an eval set's rated traces (rows) × chosen eval versions (columns)."""
