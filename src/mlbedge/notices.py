"""Attribution the data's terms ask for, shown in the README and the demo output."""

RETROSHEET_NOTICE = """\
     The information used here was obtained free of
     charge from and is copyrighted by Retrosheet.  Interested
     parties may contact Retrosheet at "www.retrosheet.org"."""

DATA_NOTICE = f"""\
Data credits:
{RETROSHEET_NOTICE}
  Lahman Baseball Database (Sean Lahman), via the R package Lahman 14.0-0, CC BY-SA 3.0.
  Chadwick Baseball Bureau, retrosplits (from Retrosheet), ODbL 1.0.
  Market odds from Pinnacle, via the `pinnacle.data` R package (Blume & Yan), GPL-3.
  Source: sportsbookreviewsonline.com (SBRO odds and scores; internal tests and demos only)."""
