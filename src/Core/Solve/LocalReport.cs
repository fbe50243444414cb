namespace Tomalign.Core.Solve;

/// <summary>The local alignments in the JSON report, area by area, and as a text table.</summary>
public static class LocalReport
{
    /// <summary>The grid, the areas (centre, size, landmarks, residual against the global one over the same points, per-view changes) and the local mean.</summary>
    public static object Json(LocalSolution s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return new
        {
            grid = new { numberX = s.NumberX, numberY = s.NumberY, startX = s.StartX, startY = s.StartY, deltaX = s.DeltaX, deltaY = s.DeltaY },
            residualLocalMean = s.MeanResidual,
            residualLocalMin = s.Areas.Min(a => a.Residual.Mean),
            residualLocalMax = s.Areas.Max(a => a.Residual.Mean),
            globalResidualSamePoints = s.Areas.Average(a => a.GlobalResidual.Mean),
            areas = s.Areas.Select(a => new
            {
                ix = a.Ix, iy = a.Iy, centerX = a.CenterX, centerY = a.CenterY, sizeX = a.SizeX, sizeY = a.SizeY,
                landmarks = a.Landmarks, bottomSurface = a.Bottom, topSurface = a.Top, points = a.Residual.Count,
                residualMean = Num(a.Residual.Mean), residualRms = Num(a.Residual.Rms), globalResidualMean = Num(a.GlobalResidual.Mean),
                variables = a.Variables, iterations = a.Iterations,
                views = a.Views.Select((v, i) => new
                {
                    view = i,
                    dTilt = v.TiltDegrees - s.Global[i].TiltDegrees,
                    dRotation = v.AxisAngleDegrees - s.Global[i].AxisAngleDegrees,
                    dMagnification = v.Magnification - s.Global[i].Magnification,
                    dx = v.ShiftX - s.Global[i].ShiftX,
                    dy = v.ShiftY - s.Global[i].ShiftY,
                }),
            }),
        };
    }

    private static double? Num(double v) => double.IsFinite(v) ? v : null;
}
