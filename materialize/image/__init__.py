"""An environment directory as an OCI image: built from the prefix, pushed, pulled, mounted at its path.

Data flows one way: the prefix's expected files (``prefix_files``) are grouped into layers by
package (``layers``), assembled into a config and manifest (``build``), and stored as
content-addressed blobs (``blobs``). A ``Store`` moves blobs and manifests: an OCI image layout on
disk (``layout``, ``oci:PATH[:TAG]``) or a registry through the OCI distribution API
(``registry``, with ``auth`` and ``credentials``). ``push`` and ``pull`` orchestrate;
``unpack`` writes a prefix from verified layers.
"""
