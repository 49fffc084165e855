-- web_verdicts.late (issue 13): the follow-up's web verdict was written after a
-- site verdict of one of its DNS measurements that does not list it (the
-- follow-up arrived later than web_settle_s after that measurement). Its site
-- verdict stays without it until `blockwatch reclassify --since` its day, which
-- writes web verdicts before site verdicts again (and so clears the flag):
-- rewriting one site verdict in place would count it twice in the rollups.
-- Reports say how many there are (status.py). Additive.
ALTER TABLE web_verdicts ADD COLUMN IF NOT EXISTS late Bool DEFAULT false AFTER tls_handshake;
