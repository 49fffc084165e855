-- web_verdicts.tls_handshake (issue 13): the follow-up completed a TLS
-- handshake with SNI = the name and got a certificate, valid or not. A DNS
-- answer is TLS-consistent when a follow-up of it got a certificate valid for
-- the name (`tls_consistent`) and none got an invalid one (`tls_handshake AND
-- NOT certificate_valid`): the site pass needs both, and the failure columns
-- cannot tell an invalid certificate from no handshake. Additive.
ALTER TABLE web_verdicts ADD COLUMN IF NOT EXISTS tls_handshake Bool DEFAULT false
    AFTER certificate_valid;
