package exportkit

import "github.com/agolpipe/agolpipe/sdk"

// PublishAnswer is the portal's answer to content/users/<user>/publish,
// the same for every file type a restore publishes (File Geodatabase,
// shapefile, CSV, tile and vector tile packages).
type PublishAnswer struct {
	Services []PublishedService `json:"services"`
}

// PublishedService is one service a publish made. JobID, when set, is the
// publish job to wait for (items/<id>/status, jobType publish) before the
// service is usable.
type PublishedService struct {
	ServiceURL    string `json:"serviceurl"`
	ServiceItemID string `json:"serviceItemId"`
	JobID         string `json:"jobId"`
	Error         *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Service is the one service the publish of what made. ArcGIS answers a
// refused publish with HTTP 200 and the reason inside services[0].error;
// that, or an answer without exactly one service, is a permanent failure
// quoting the portal.
func (a PublishAnswer) Service(what string) (PublishedService, error) {
	if len(a.Services) != 1 || a.Services[0].ServiceItemID == "" {
		msg := "no service"
		if len(a.Services) == 1 && a.Services[0].Error != nil {
			msg = a.Services[0].Error.Message
		}
		return PublishedService{}, sdk.Permanent("publishing %s: the portal answered %s", what, msg)
	}
	return a.Services[0], nil
}
