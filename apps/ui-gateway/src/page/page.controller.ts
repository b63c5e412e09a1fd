import { Controller, Get, Header } from '@nestjs/common';
import { INDEX_PAGE, INDEX_PAGE_CSP } from './index-page.html';

/** The page people open: a live list of project events (the full web UI comes later). */
@Controller()
export class PageController {
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', INDEX_PAGE_CSP)
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  @Header('Cache-Control', 'no-cache')
  index(): string {
    return INDEX_PAGE;
  }
}
