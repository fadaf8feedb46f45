"""What tests share: fakes of pf and of the operating system, the admin API harness, tool lookups."""
