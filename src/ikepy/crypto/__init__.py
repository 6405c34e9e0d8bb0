"""Cryptographic layer: transform registries, key exchange, prf/prf+, key
derivation, SK payload protection and strongSwan proposal syntax.

Every primitive comes from OpenSSL through ``cryptography``.
"""
