# A small fingerprint list in pf.os(5) format, written for this test.
65535:64:1:64:M*,N,W1,N,N,T,S,E:TestOS:1.0::TestOS 1.0
65535:64:1:64:M*,N,W2,N,N,T,S,E:TestOS:1.0:beta:TestOS 1.0 beta
16384:64:1:60:M*,N,W0,N,N,T:OtherOS:2::OtherOS 2
