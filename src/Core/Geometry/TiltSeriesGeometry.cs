using Tomalign.Core.Formats;

namespace Tomalign.Core.Geometry;

/// <summary>Whole-series conversions between per-view <see cref="ViewGeometry"/> and IMOD .xf lines.</summary>
public static class TiltSeriesGeometry
{
    /// <summary>The .xf lines (raw → aligned) of a series, one per view.</summary>
    public static Xf[] ToXf(IReadOnlyList<ViewGeometry> views)
    {
        ArgumentNullException.ThrowIfNull(views);
        var xfs = new Xf[views.Count];
        for (int i = 0; i < xfs.Length; i++) xfs[i] = views[i].RawToAligned();
        return xfs;
    }

    /// <summary>
    /// Per-view geometry from .xf lines (raw → aligned, similarity part only: see
    /// <see cref="ViewGeometry.FromXf"/>) and tilt angles, optionally x-axis tilts.
    /// Mismatched counts are a user error naming both files.
    /// </summary>
    /// <param name="xfFile">Name of the transform file, for messages.</param>
    /// <param name="tiltFile">Name of the angle file, for messages.</param>
    public static ViewGeometry[] FromXf(IReadOnlyList<Xf> rawToAligned, IReadOnlyList<double> tiltDegrees,
        IReadOnlyList<double>? xAxisTiltDegrees = null, string xfFile = "the transform file", string tiltFile = "the tilt file")
    {
        ArgumentNullException.ThrowIfNull(rawToAligned);
        ArgumentNullException.ThrowIfNull(tiltDegrees);
        ImodText.RequireSameCount($"{tiltFile} has {{0}} angles", tiltDegrees.Count,
            $"{xfFile} has {{0}} transforms", rawToAligned.Count, tiltFile, "give one angle per transform (one of each per view)");
        if (xAxisTiltDegrees is not null)
            ImodText.RequireSameCount("{0} x-axis tilts", xAxisTiltDegrees.Count, "{0} tilt angles", tiltDegrees.Count, null,
                "give one x-axis tilt per view");
        var views = new ViewGeometry[rawToAligned.Count];
        for (int i = 0; i < views.Length; i++)
            views[i] = ViewGeometry.FromXf(rawToAligned[i], tiltDegrees[i], xAxisTiltDegrees?[i] ?? 0);
        return views;
    }
}
