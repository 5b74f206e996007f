// Package security is who a node is and who it talks to: certificate
// identities (a role and a name), a small CA to issue them (agora tls, agora
// dev), certificate files that are re-read when they change, and the TLS
// configurations that remoting (mutual TLS on gRPC) and the HTTP APIs use.
//
// An identity is the URI SAN agora://<role>/<name> of a certificate the
// cluster's CA signed. A URI SAN, not the subject: it is one typed field
// that x509 parses for us (no convention about CN or OU to agree on), the
// form SPIFFE uses for workload identities, and a certificate can still
// carry DNS and IP SANs for curl and browsers to check hostnames against.
//
// Peers do not check hostnames against certificates: nodes bind ports the
// kernel picks, advertise addresses behind NAT, and restart elsewhere; what
// a message may do depends on who sent it (its role and name), which is what
// the receiver learns from the certificate. Both sides verify the other's
// chain against the CA file as it is at that handshake.
//
// The usage loop:
//
//	src, err := security.Load(security.Files{CA: ..., Cert: ..., Key: ...}, logger)
//	srv := &http.Server{TLSConfig: src.ServerConfig(security.ClientOptional)}
//	client := &http.Client{Transport: &http.Transport{TLSClientConfig: src.ClientConfig()}}
//
// Every handshake stats the three files and reloads them when one changed,
// so replacing them (atomically: write and rename) rotates the node's
// certificate and the CA without a restart; a half-replaced pair that does
// not load is ignored (logged) and the last good one kept.
package security
