"""Reference data shared by every service: administrative divisions and the item catalog.

Import the modules directly (`shared.reference.localities`, `shared.reference.catalog`); this
package imports nothing so that settings can load the localities without pulling in the catalog.
"""
