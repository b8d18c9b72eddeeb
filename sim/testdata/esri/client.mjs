// Drives the agolpipe simulator with Esri's official JavaScript REST client
// (@esri/arcgis-rest-* 4.10.2), unchanged. Run by sim/esri_test.go:
//   SIM_PORTAL=http://127.0.0.1:PORT/sharing/rest SIM_USER=... SIM_PASS=... node client.mjs
// Prints one JSON object with what it saw; any failure exits non-zero.
import { ArcGISIdentityManager } from "@esri/arcgis-rest-request";
import {
  searchItems, getItem, getItemData, getItemResources, getRelatedItems, getUserContent,
  exportItem, getItemStatus, getSelf, getUser,
} from "@esri/arcgis-rest-portal";
import { queryFeatures, getLayer } from "@esri/arcgis-rest-feature-service";

const portal = process.env.SIM_PORTAL;
const authentication = await ArcGISIdentityManager.signIn({
  username: process.env.SIM_USER, password: process.env.SIM_PASS, portal,
});
const out = { username: authentication.username };

const self = await getSelf({ authentication });
out.orgId = self.id;
const me = await getUser({ authentication });
out.role = me.role;

// Search with paging: every item of the org, 100 at a time.
let start = 1;
const seen = new Set();
let pages = 0;
let total = 0;
while (start !== -1) {
  const page = await searchItems({ q: `orgid:${self.id}`, num: 100, start, authentication });
  total = page.total;
  for (const r of page.results) seen.add(r.id);
  start = page.nextStart;
  pages++;
}
out.searchTotal = total;
out.searchDistinct = seen.size;
out.searchPages = pages;

// Items of each family.
const pick = async (q) => (await searchItems({ q, num: 1, authentication })).results[0];
const webmap = await pick(`orgid:${self.id} AND type:"Web Map" NOT type:"Web Mapping Application"`);
const item = await getItem(webmap.id, { authentication });
out.itemTitle = item.title;
const data = await getItemData(webmap.id, { authentication });
out.webmapLayers = data.operationalLayers.length;

const story = await pick(`orgid:${self.id} AND type:StoryMap`);
const res = await getItemResources(story.id, { authentication });
out.resources = res.resources.map((r) => r.resource);

const formItem = await pick(`orgid:${self.id} AND type:Form`);
const related = await getRelatedItems({ id: formItem.id, relationshipType: "Survey2Service", authentication });
out.relatedTotal = related.total;

const content = await getUserContent({ owner: authentication.username, num: 100, authentication });
out.userContentTotal = content.total;
out.folders = content.folders.length;

// Query a hosted feature layer (the client fetches a server token itself).
const fs = (await searchItems({
  q: `orgid:${self.id} AND typekeywords:"Hosted Service" AND type:"Feature Service" NOT typekeywords:"View Service"`,
  num: 1, authentication,
})).results[0];
const layer = await getLayer({ url: `${fs.url}/0`, authentication });
out.layerName = layer.name;
const q = await queryFeatures({ url: `${fs.url}/0`, where: "1=1", outFields: "*", resultRecordCount: 5, authentication });
out.features = q.features.length;
const count = await queryFeatures({ url: `${fs.url}/0`, where: "1=1", returnCountOnly: true, authentication });
out.count = count.count;

// Export the service and poll the job until it completes.
const exp = await exportItem({ id: fs.id, exportFormat: "CSV", title: "esri-client-export", authentication });
out.exportItemId = exp.exportItemId;
let status;
for (let i = 0; i < 100; i++) {
  status = await getItemStatus({ id: exp.exportItemId, jobId: exp.jobId, jobType: "export", authentication });
  if (status.status !== "processing") break;
  await new Promise((r) => setTimeout(r, 50));
}
out.exportStatus = status.status;

console.log(JSON.stringify(out));
