"""The e-voucher (医保电子凭证) decode service: the QR value a patient shows → a short-lived token and the identity.

The QR code is not the token (docs/gateway.md "E-voucher"): it is decoded first, by the province's HTTP service
(``http.py``) or by the national SDK library (``sdk.py``); 1101 is then sent with ``mdtrt_cert_type`` 01 and the
token, and the token is the 就诊凭证 of the whole sale.
"""
