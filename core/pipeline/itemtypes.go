package pipeline

// ItemTypes lists the ArcGIS item type names a pipeline may name in an
// `export "<Item Type>"` block, spelled exactly as the portal reports them in
// an item's "type" field. It is the one list core uses for "did you mean"
// and that other packages (exporters, plan, reports) may import.
//
// The portal grows new types over time, so a name outside this list is only
// a warning unless it is a likely typo of a listed one.
var ItemTypes = []string{
	// Services and layers.
	"Feature Service", "Map Service", "Vector Tile Service", "Image Service",
	"Scene Service", "Geocoding Service", "Geoprocessing Service",
	"Geometry Service", "Network Analysis Service", "Globe Service",
	"Stream Service", "Relational Database Connection", "Big Data File Share",
	"Group Layer", "Scene Layer", "Scene Package", "Feature Collection",
	"Feature Collection Template", "Map Area", "Media Layer",
	"Knowledge Graph", "Oriented Imagery Catalog",
	"WMS", "WMTS", "WFS", "WCS", "KML", "KML Collection", "GeoJson",
	"GeoPackage", "OGCFeatureServer",
	// Maps, scenes and apps.
	"Web Map", "Web Scene", "Web Mapping Application", "Mobile Application",
	"Application", "Native Application", "Dashboard", "StoryMap",
	"Story Map", "Web Experience", "Web Experience Template", "Form",
	"QuickCapture Project", "Survey123 Add In", "Workforce Project",
	"Insights Workbook", "Insights Page", "Insights Model", "Hub Site Application",
	"Hub Page", "Hub Initiative", "Hub Project", "Site Application", "Site Page",
	"Experience Builder Widget", "Operation View", "Solution", "Notebook",
	"Notebook Code Snippet Library", "Data Pipeline", "Web AppBuilder Widget",
	"Mobile Map Package", "Mobile Scene Package", "Map Package",
	"Project Package", "Project Template", "Layer Package", "Layer File",
	"Layout", "Map Template", "Style", "Symbol Set", "Color Set",
	"Desktop Style", "Map Document", "Explorer Map", "Pro Map",
	"Geoprocessing Package", "Geoprocessing Sample", "Locator Package",
	"Rule Package", "Workflow Manager Package", "Workflow Manager Service",
	"Deep Learning Package", "Raster Function Template",
	"Tile Package", "Compact Tile Package", "Vector Tile Package",
	"Service Definition", "Administrative Report",
	"Analysis Model",
	// Files and documents.
	"PDF", "CSV", "CSV Collection", "Shapefile", "File Geodatabase",
	"Microsoft Word", "Microsoft Excel", "Microsoft Powerpoint", "Microsoft Visio",
	"Image", "Image Collection", "Visio Document", "iWork Keynote", "iWork Pages",
	"iWork Numbers", "CAD Drawing", "Document Link", "Code Sample",
	"Code Attachment", "Desktop Application", "Desktop Application Template",
	"Desktop Add In", "ArcPad Package", "Windows Mobile Package",
	"Report Template", "Statistical Data Collection", "SQLite Geodatabase",
	"GML", "Raster", "Ortho Mapping Project", "Ortho Mapping Template",
	"Add In", "Sketch", "3DTilesService", "3D Tiles Package",
	// Security and identity.
	"API Key", "Application Configuration", "Content Category Set",
	"Vector Tile Style Editor",
}

// itemTypeSet indexes ItemTypes for IsItemType.
var itemTypeSet = func() map[string]bool {
	m := make(map[string]bool, len(ItemTypes))
	for _, t := range ItemTypes {
		m[t] = true
	}
	return m
}()

// IsItemType reports whether name is a listed ArcGIS item type (exact case).
func IsItemType(name string) bool { return itemTypeSet[name] }
