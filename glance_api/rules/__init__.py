"""What a caller may do: policy, property protections, quotas, the import URL filter."""
