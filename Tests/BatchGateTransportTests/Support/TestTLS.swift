/// A self-signed certificate for `localhost` and 127.0.0.1 (P-256, valid until 2126) and its key, for
/// `wss://` tests against a loopback server. Test material only: it protects nothing.
enum TestTLS {
    static let certificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBlzCCAT6gAwIBAgIUHS6X8pqhsnxNuJH313TSzEnptEYwCgYIKoZIzj0EAwIw
        FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjEyMDkyMFoYDzIxMjYxMTA4
        MTIwOTIwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
        PQMBBwNCAASyYFBeaYg9OP2x9KVdh1zhCLDKuP2CSYSxsldx/dIpWUp84Ls+f+Cw
        f064j5CQpMWAEQQop/YvtNrFDs8KqQ/io2wwajAdBgNVHQ4EFgQUs0I3cD0jlIBn
        KKZQ6++vEN1fs8AwHwYDVR0jBBgwFoAUs0I3cD0jlIBnKKZQ6++vEN1fs8AwGgYD
        VR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMAwGA1UdEwEB/wQCMAAwCgYIKoZIzj0E
        AwIDRwAwRAIgHjnIupRIIiF2jhbUXSQ59I44TZAId9scEj569AjvL1MCIFQ+oZk2
        oIdjHguJ/FsYyDHTijPfXIcWWPn7mYW/09aX
        -----END CERTIFICATE-----
        """

    static let privateKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv4dx3+yU1YG/0OpF
        3kMzdjJ3Toc5Z6EOEPJc8Zp4Cy6hRANCAASyYFBeaYg9OP2x9KVdh1zhCLDKuP2C
        SYSxsldx/dIpWUp84Ls+f+Cwf064j5CQpMWAEQQop/YvtNrFDs8KqQ/i
        -----END PRIVATE KEY-----
        """
}
