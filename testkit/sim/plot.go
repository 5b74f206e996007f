package sim

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// plotRoles bounds the roles drawn (the largest mean shares): past a dozen
// lines nobody reads the legend.
const plotRoles = 12

// WritePlot draws utilization per resource and each role's dominant share
// over time, one above the other, to path: PNG if it ends in .png, else
// SVG.
func (rep *Report) WritePlot(path string) error {
	s := rep.Series
	util := plot.New()
	util.Title.Text = fmt.Sprintf("%s: utilization", rep.Name)
	util.X.Label.Text, util.Y.Label.Text = "time (s)", "share of the cluster"
	util.Y.Min, util.Y.Max = 0, 1.15 // room for the legend above full use
	util.Legend.Top = true
	for i, res := range slices.Sorted(maps.Keys(s.Utilization)) {
		if err := addLine(util, res, s.T, s.Utilization[res], i); err != nil {
			return err
		}
	}
	shares := plot.New()
	shares.Title.Text = "dominant share per role"
	shares.X.Label.Text, shares.Y.Label.Text = "time (s)", "dominant share"
	shares.Y.Min = 0
	shares.Legend.Top = true
	roles := slices.Sorted(maps.Keys(s.DominantShare))
	sort.SliceStable(roles, func(i, j int) bool {
		return rep.Roles[roles[i]].DominantShareMean > rep.Roles[roles[j]].DominantShareMean
	})
	if len(roles) > plotRoles {
		shares.Title.Text = fmt.Sprintf("dominant share per role (the %d largest of %d)", plotRoles, len(roles))
		roles = roles[:plotRoles]
	}
	for i, role := range roles {
		if err := addLine(shares, role, s.T, s.DominantShare[role], i); err != nil {
			return err
		}
	}
	w, h := 8*vg.Inch, 9*vg.Inch
	var img interface {
		vg.CanvasSizer
		io.WriterTo
	}
	if strings.HasSuffix(path, ".png") {
		img = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))}
	} else {
		img = vgsvg.New(w, h)
	}
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8), PadY: vg.Points(16)}
	canvases := plot.Align([][]*plot.Plot{{util}, {shares}}, tiles, dc)
	util.Draw(canvases[0][0])
	shares.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	if _, err := img.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write plot: %w", err)
	}
	return f.Close()
}

func addLine(p *plot.Plot, name string, t []Seconds, ys []float64, i int) error {
	xys := make(plotter.XYs, min(len(t), len(ys)))
	for k := range xys {
		xys[k].X, xys[k].Y = float64(t[k]), ys[k]
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return fmt.Errorf("plot %s: %w", name, err)
	}
	l.Color = plotutil.Color(i)
	l.Dashes = plotutil.Dashes(i / len(plotutil.SoftColors))
	l.Width = vg.Points(1.2)
	p.Add(l)
	p.Legend.Add(name, l)
	return nil
}
