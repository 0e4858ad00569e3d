"""Make the published asv dashboard work without internet access: its JavaScript and CSS served locally.

asv's ``index.html`` loads jQuery, flot, Bootstrap, blueimp-md5 and two small
plugins from public CDNs; where a browser cannot reach them (an offline
machine, CI) the page shows only "Can not determine continental origin of
swallow". This tool fetches the same libraries from the npm registry with
``npm pack`` (npm checks each tarball's integrity), copies the files into
``<html_dir>/vendor/`` and points the pages at them::

    asv publish
    python -m benchmarks.offline_html .asv/html
    asv preview

Run it from the repository root after every ``asv publish`` (publish rewrites
the pages). Needs Node.js's ``npm``. Not a benchmark module: asv finds nothing
to run here.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

#: CDN address (regex on the URL) -> (npm package spec, file in its tarball, local path
#: under vendor/). The versions are those asv 0.6 pins, except stupidtable: npm
#: only has the plugin as stupid-table-plugin, whose oldest release is 1.1.3.
ASSETS = [
    (r"code\.jquery\.com/jquery-3\.3\.1\.min\.js$",
     "jquery@3.3.1", "package/dist/jquery.min.js", "jquery/jquery.min.js"),
    (r"/flot/0\.8\.3/jquery\.flot\.min\.js$",
     "flot@0.8.3", "package/jquery.flot.js", "flot/jquery.flot.js"),
    (r"/flot/0\.8\.3/jquery\.flot\.time\.min\.js$",
     "flot@0.8.3", "package/jquery.flot.time.js", "flot/jquery.flot.time.js"),
    (r"/flot/0\.8\.3/jquery\.flot\.selection\.min\.js$",
     "flot@0.8.3", "package/jquery.flot.selection.js", "flot/jquery.flot.selection.js"),
    (r"/flot/0\.8\.3/jquery\.flot\.categories\.min\.js$",
     "flot@0.8.3", "package/jquery.flot.categories.js", "flot/jquery.flot.categories.js"),
    (r"/flot-orderbars@1\.0\.0/js/jquery\.flot\.orderBars\.js$",
     "flot-orderbars@1.0.0", "package/js/jquery.flot.orderBars.js", "flot/jquery.flot.orderBars.js"),
    (r"/stupidtable/[0-9.]+/stupidtable\.min\.js$",
     "stupid-table-plugin@1.1.3", "package/stupidtable.min.js", "stupidtable/stupidtable.min.js"),
    (r"/blueimp-md5/2\.19\.0/js/md5\.min\.js$",
     "blueimp-md5@2.19.0", "package/js/md5.min.js", "md5/md5.min.js"),
    (r"/bootstrap@3\.1\.1/dist/js/bootstrap\.min\.js$",
     "bootstrap@3.1.1", "package/dist/js/bootstrap.min.js", "bootstrap/js/bootstrap.min.js"),
    (r"/bootstrap@3\.1\.1/dist/css/bootstrap\.min\.css$",
     "bootstrap@3.1.1", "package/dist/css/bootstrap.min.css", "bootstrap/css/bootstrap.min.css"),
]
# Bootstrap's CSS reaches its icon font as ../fonts/: copied beside css/.
_EXTRA_DIRS = {"bootstrap@3.1.1": [("package/dist/fonts/", "bootstrap/fonts/")]}

# A <script src=...> or <link href=...> tag loading from http(s).
_REMOTE_TAG = re.compile(r'<(script|link)\b[^>]*?\b(?:src|href)="(https?://[^"]+)"[^>]*>')
# Only CDN assets are rewritten: plain links (asv's home page, the project's) stay.
_ASSET_URL = re.compile(r"\.(js|css)$")


def _match(url):
    for pattern, spec, member, local in ASSETS:
        if re.search(pattern, url):
            return spec, member, local
    return None


def remote_assets(html_dir):
    """{page: [(tag, url)]} of the CDN scripts and stylesheets each published page loads."""
    found = {}
    for name in sorted(os.listdir(html_dir)):
        if name.endswith(".html"):
            with open(os.path.join(html_dir, name), encoding="utf-8") as f:
                tags = [(m.group(0), m.group(2)) for m in _REMOTE_TAG.finditer(f.read())
                        if _ASSET_URL.search(m.group(2))]
            if tags:
                found[name] = tags
    return found


def _npm_pack(specs, dest):
    """Download the npm tarballs of specs into dest; {spec: tarball path}."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm not found: install Node.js's npm to vendor the dashboard's assets")
    out = subprocess.run([npm, "pack", "--silent", "--pack-destination", dest] + list(specs),
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"npm pack failed:\n{out.stderr[-2000:]}")
    names = out.stdout.split()
    if len(names) != len(specs):
        raise RuntimeError(f"npm pack gave {names} for {list(specs)}")
    return {spec: os.path.join(dest, name) for spec, name in zip(specs, names)}


def vendor_assets(html_dir):
    """Copy the dashboard's CDN assets into html_dir/vendor and point every page at them.

    Returns the list of URLs replaced. Raises RuntimeError for a CDN asset this
    table does not know (a newer asv): the page would stay broken offline.
    """
    pages = remote_assets(html_dir)
    urls = sorted({url for tags in pages.values() for _, url in tags})
    unknown = [url for url in urls if _match(url) is None]
    if unknown:
        raise RuntimeError(f"no local copy known for {unknown}: extend ASSETS in {__file__}")
    if not urls:
        return []
    wanted = {url: _match(url) for url in urls}
    specs = sorted({spec for spec, _, _ in wanted.values()})
    vendor = os.path.join(html_dir, "vendor")
    with tempfile.TemporaryDirectory(prefix="asv-vendor-") as tmp:
        tarballs = _npm_pack(specs, tmp)
        for spec in specs:
            with tarfile.open(tarballs[spec]) as tar:
                members = [(m, local) for s, m, local in wanted.values() if s == spec]
                for prefix, local_dir in _EXTRA_DIRS.get(spec, []):
                    members += [(m.name, local_dir + m.name[len(prefix):])
                                for m in tar.getmembers() if m.isfile() and m.name.startswith(prefix)]
                for member, local in members:
                    target = os.path.join(vendor, local)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with tar.extractfile(member) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
    for name, tags in pages.items():
        path = os.path.join(html_dir, name)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for tag, url in tags:
            local = "vendor/" + wanted[url][2]
            new = tag.replace(url, local)
            # The CDN's integrity hash is of the CDN file (some copies here are the
            # unminified sources of the same release): npm has checked the tarball.
            new = re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", new)
            text = text.replace(tag, new)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return urls


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html_dir", nargs="?", default=os.path.join(".asv", "html"),
                        help="asv's html_dir (default .asv/html)")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.html_dir, "index.html")):
        parser.error(f"{args.html_dir} has no index.html: run `asv publish` first")
    urls = vendor_assets(args.html_dir)
    print(f"{len(urls)} CDN assets now served from {os.path.join(args.html_dir, 'vendor')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
