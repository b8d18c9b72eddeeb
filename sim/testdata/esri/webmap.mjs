// Opens web maps the way a map viewer does, with Esri's official JavaScript
// REST client (@esri/arcgis-rest-* 4.10.2), unchanged: the item, its data,
// and for every operational layer with a URL the layer's definition and its
// feature count. Run by cmd/agolpipe's restore test against the org a
// restore wrote:
//   SIM_PORTAL=http://127.0.0.1:PORT/sharing/rest SIM_USER=... SIM_PASS=... SIM_WEBMAPS=id,id SIM_ORIGIN=http://127.0.0.1:PORT node webmap.mjs
// Only feature layers are opened and counted; layers outside SIM_ORIGIN (another org's services, which the client
// rightly refuses to send this org's token to) are listed, not opened.
// Prints one JSON object per web map id; any failure exits non-zero.
import { ArcGISIdentityManager } from "@esri/arcgis-rest-request";
import { getItem, getItemData } from "@esri/arcgis-rest-portal";
import { queryFeatures, getLayer } from "@esri/arcgis-rest-feature-service";

const portal = process.env.SIM_PORTAL;
const authentication = await ArcGISIdentityManager.signIn({
  username: process.env.SIM_USER, password: process.env.SIM_PASS, portal,
});
const out = {};
for (const id of process.env.SIM_WEBMAPS.split(",")) {
  const item = await getItem(id, { authentication });
  const data = await getItemData(id, { authentication });
  const layers = [];
  for (const l of data.operationalLayers || []) {
    if (!l.url) continue;
    if (!l.url.startsWith(process.env.SIM_ORIGIN + "/")) {
      layers.push({ url: l.url, foreign: true });
      continue;
    }
    if (!/\/FeatureServer\/\d+$/.test(l.url)) {
      layers.push({ url: l.url, skipped: true }); // tiles, map images: drawn, not queried
      continue;
    }
    const def = await getLayer({ url: l.url, authentication });
    const count = await queryFeatures({ url: l.url, where: "1=1", returnCountOnly: true, authentication });
    layers.push({ url: l.url, name: def.name, count: count.count });
  }
  out[id] = { title: item.title, layers };
}
console.log(JSON.stringify(out));
