package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agolpipe/agolpipe/sim/org"
)

// createReplica: POST <FeatureServer>/createReplica. Async calls answer
// only a statusUrl (never a resultUrl: clients must poll); sync calls wait
// ExportTime and answer the resultUrl.
func (s *Server) createReplica(c *call, sc *svcCall) {
	if !c.needUser() {
		return
	}
	if !s.lookup(c, sc) {
		return
	}
	it := sc.item
	svc := it.Service
	caps := svc.Capabilities
	var layers []org.ExportLayer
	bad := ""
	if ls := c.param("layers"); ls != "" {
		for _, x := range strings.Split(ls, ",") {
			id, err := strconv.Atoi(strings.TrimSpace(x))
			l := svc.FindLayer(id)
			if err != nil || l == nil {
				bad = x
				break
			}
			layers = append(layers, org.ExportLayer{ID: l.ID, Name: l.Name, IsTable: l.IsTable, Geometry: l.Geometry, Rows: l.RowCount()})
		}
	} else {
		for _, l := range svc.Layers {
			layers = append(layers, org.ExportLayer{ID: l.ID, Name: l.Name, IsTable: l.IsTable, Geometry: l.Geometry, Rows: l.RowCount()})
		}
	}
	owner := it.Owner == c.user.Username || c.isAdmin()
	itemID := it.ID
	s.org.Mu.RUnlock()
	if !strings.Contains(caps, "Sync") && !(strings.Contains(caps, "Extract") || owner) {
		c.fail(400, "This operation is not supported.", "", nil)
		return
	}
	if bad != "" {
		c.invalidParams()
		return
	}
	now := time.Now()
	j := &job{ID: newJobID(), Type: "createReplica", Format: c.param("dataFormat"), Source: itemID, Started: now, Ready: now.Add(s.opt.ExportTime), Layers: layers}
	switch s.opt.ExportFaults[itemID] {
	case ExportFail:
		j.Fail = "Replica creation failed."
	case ExportHang:
		j.Hang = true
	case ExportAttachmentError:
		if c.boolParam("returnAttachments") {
			j.Fail = "Replica creation failed: error exporting attachments."
		}
	}
	s.mu.Lock()
	s.jobs[j.ID] = j
	s.mu.Unlock()
	name := c.param("replicaName")
	if name == "" {
		name = "replica_" + j.ID[:8]
	}
	if c.boolParam("async") {
		c.value(map[string]any{"statusUrl": sc.base + "/jobs/" + j.ID})
		return
	}
	if !j.Hang {
		t := time.NewTimer(time.Until(j.Ready))
		select {
		case <-t.C:
		case <-c.r.Context().Done():
			t.Stop()
			return
		}
	}
	if j.Fail != "" || j.Hang {
		c.fail(500, j.Fail+"Unable to create replica.", "", nil)
		return
	}
	c.value(map[string]any{"replicaName": name, "replicaID": j.ID, "transportType": "esriTransportTypeUrl",
		"responseType": "esriReplicaResponseTypeData", "resultUrl": sc.base + "/replicafiles/" + j.ID + ".zip"})
}

func (s *Server) job(id string) *job {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id]
}

// replicaStatus: GET <FeatureServer>/jobs/<id>.
func (s *Server) replicaStatus(c *call, sc *svcCall, id string) {
	if !s.lookup(c, sc) {
		return
	}
	s.org.Mu.RUnlock()
	j := s.job(id)
	if j == nil || j.Type != "createReplica" {
		c.fail(400, "Invalid job id.", "", nil)
		return
	}
	resp := map[string]any{"replicaName": "replica_" + j.ID[:8], "replicaID": j.ID, "submissionTime": j.Started.UnixMilli(),
		"lastUpdatedTime": time.Now().UnixMilli(), "transportType": "esriTransportTypeUrl", "responseType": "esriReplicaResponseTypeData"}
	switch jobState(j) {
	case "processing":
		if time.Since(j.Started) < (j.Ready.Sub(j.Started))/2 && !j.Hang {
			resp["status"] = "Pending"
		} else {
			resp["status"] = "ExportingData"
		}
	case "failed":
		resp["status"] = "Failed"
		resp["error"] = map[string]any{"code": 500, "description": j.Fail}
	default:
		resp["status"] = "Completed"
		resp["resultUrl"] = sc.base + "/replicafiles/" + j.ID + ".zip"
	}
	c.value(resp)
}

// replicaDownload: GET <FeatureServer>/replicafiles/<id>.zip.
func (s *Server) replicaDownload(c *call, sc *svcCall, id string) {
	if !s.lookup(c, sc) {
		return
	}
	created := sc.item.Modified
	s.org.Mu.RUnlock()
	j := s.job(id)
	if j == nil || jobState(j) != "completed" {
		c.failStatus(http.StatusNotFound, 404, "Replica file not found.", "", nil)
		return
	}
	tmp := &org.Item{ID: id, Created: created}
	c.w.Header().Set("Content-Type", "application/zip")
	c.w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", id+".zip"))
	_ = s.writeExport(c.w, tmp, j)
}
